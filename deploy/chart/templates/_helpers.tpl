{{/* Written by hand; every other template is generated (Chart.yaml). */}}

{{/* The container image: repository@digest, else repository:tag. */}}
{{- define "ascend-device-plugin.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ required "image.tag or image.digest" .Values.image.tag }}
{{- end -}}
{{- end -}}
