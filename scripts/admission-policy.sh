#!/usr/bin/env bash
# Checks deploy/components/admission-policy against a real kube-apiserver:
# the end-to-end suite's control plane (tests/e2e/cmd/apiserver, kube-apiserver
# v1.37.2 with embedded etcd, Node,RBAC authorization) on 127.0.0.1.
#
#   scripts/admission-policy.sh
#
# It applies the rendered RBAC of the 910-volcano overlay and the policy, makes
# two nodes and a plugin pod bound to node-a, mints that pod's ServiceAccount
# token (as kubelet does for the DaemonSet's projected volume) and one unbound
# token, then sends every write the plugin makes, and the ones it must not,
# and compares each HTTP status with the expected one. Not part of
# scripts/test.sh: the first build of the harness takes ~15 min on 2 cores.
# Needs Go, curl and jq; kustomize comes from scripts/manifests.sh's cache.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
cache="$HOME/.cache/ascend-device-plugin/tools"
kustomize="$cache/kustomize-v5.8.2/kustomize"
harness="$cache/admission-check/apiserver"
[ -x "$kustomize" ] || { echo "kustomize missing: run scripts/manifests.sh first" >&2; exit 1; }
for tool in go curl jq; do
    command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done

echo "==> building the control-plane harness (cached by Go after the first time)"
mkdir -p "$(dirname "$harness")"
(cd tests/e2e && go build -o "$harness" ./cmd/apiserver)

work=$(mktemp -d)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

mkdir "$work/rbac"
"$kustomize" build deploy/overlays/910-volcano > "$work/rbac/plugin.yaml"
# The harness applies the ServiceAccount and RBAC objects of the manifest.
rbac_flag=-rbac
if "$harness" -h 2>&1 | grep -q -- '-rbac-dir'; then rbac_flag=-rbac-dir; fi
"$harness" -dir "$work/cp" "$rbac_flag" "$work/rbac" > "$work/apiserver.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 180); do
    [ -f "$work/cp/ready.json" ] && break
    kill -0 "$server_pid" 2>/dev/null || { tail -20 "$work/apiserver.log" >&2; exit 1; }
    sleep 1
done
[ -f "$work/cp/ready.json" ] || { echo "control plane not ready" >&2; exit 1; }
url=$(jq -r .url "$work/cp/ready.json")
ca=$(jq -r .ca_file "$work/cp/ready.json")
admin=$(awk '/token:/ {print $2; exit}' "$(jq -r .admin_kubeconfig "$work/cp/ready.json")")

# call TOKEN METHOD PATH [CONTENT-TYPE BODY]: prints the HTTP status.
call() {
    local token=$1 method=$2 path=$3 type=${4:-} body=${5:-}
    local args=(-sS -o "$work/last.json" -w '%{http_code}' --cacert "$ca" -H "Authorization: Bearer $token" -X "$method")
    [ -n "$type" ] && args+=(-H "Content-Type: $type" --data-binary "$body")
    curl "${args[@]}" "$url$path"
}
admin_do() {
    local status
    status=$(call "$admin" "$@")
    case $status in 2??) ;; *) echo "setup failed ($status): $2" >&2; cat "$work/last.json" >&2; exit 1 ;; esac
}

echo "==> setting up nodes, pods, ConfigMaps and the policy"
for node in node-a node-b; do
    admin_do POST /api/v1/nodes application/json "{\"metadata\":{\"name\":\"$node\",\"labels\":{\"kubernetes.io/hostname\":\"$node\"}}}"
done
pod() { # NAMESPACE NAME NODE [SERVICEACCOUNT]
    local sa=${4:-default}
    admin_do POST "/api/v1/namespaces/$1/pods" application/json \
        "{\"metadata\":{\"name\":\"$2\",\"labels\":{\"app\":\"x\"}},\"spec\":{\"nodeName\":\"$3\",\"serviceAccountName\":\"$sa\",\"automountServiceAccountToken\":false,\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}"
}
# Workload pods get their own ServiceAccount: "default" appears asynchronously.
pod kube-system plugin-a node-a ascend-device-plugin
plugin_uid=$(jq -r .metadata.uid "$work/last.json")
admin_do POST /api/v1/namespaces/default/serviceaccounts application/json '{"metadata":{"name":"work"}}'
pod default work-a node-a work
pod default work-b node-b work
for cm in coredns mindx-dl-fault-config; do
    admin_do POST /api/v1/namespaces/kube-system/configmaps application/json "{\"metadata\":{\"name\":\"$cm\"},\"data\":{\"k\":\"v\"}}"
done
csplit -s -z -f "$work/policy-" deploy/components/admission-policy/policy.yaml '/^---$/' '{*}'
admin_do POST /apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies application/yaml "@$work/policy-00"
admin_do POST /apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings application/yaml "@$work/policy-01"

echo "==> tokens: one bound to pod plugin-a (node-a), one unbound"
token_for() { # BODY
    admin_do POST /api/v1/namespaces/kube-system/serviceaccounts/ascend-device-plugin/token application/json "$1"
    jq -r .status.token "$work/last.json"
}
bound=$(token_for "{\"spec\":{\"expirationSeconds\":3600,\"boundObjectRef\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"name\":\"plugin-a\",\"uid\":\"$plugin_uid\"}}}")
unbound=$(token_for '{"spec":{"expirationSeconds":3600}}')
call "$bound" POST /apis/authentication.k8s.io/v1/selfsubjectreviews application/json '{}' >/dev/null
echo "bound token's extra: $(jq -c .status.userInfo.extra "$work/last.json")"

# The policy takes a moment to be loaded by the API server.
sleep 3
passed=0 failed=0
# expect WANT[:WHO] TOKEN DESCRIPTION METHOD PATH [TYPE BODY]; WHO is rbac or
# policy: a 403 must then come from that layer (judged by its message).
expect() {
    local want=${1%%:*} who='' token=$2 what=$3 got message
    [[ $1 == *:* ]] && who=${1#*:}
    shift 3
    got=$(call "$token" "$@")
    message=$(jq -r '.message // empty' "$work/last.json" 2>/dev/null || true)
    case $who in
        rbac) [[ $message == *"is forbidden: User"* && $message != *ValidatingAdmissionPolicy* ]] || got="$got($who?)" ;;
        policy) [[ $message == *"ValidatingAdmissionPolicy 'ascend-device-plugin-own-node'"* ]] || got="$got($who?)" ;;
    esac
    if [ "$got" = "$want" ]; then
        passed=$((passed + 1))
        printf 'ok    %s %s%s\n' "$got" "$what" "${who:+ (refused by $who)}"
    else
        failed=$((failed + 1))
        printf 'FAIL  %s (want %s%s) %s: %s\n' "$got" "$want" "${who:+ from $who}" "$what" "$message"
    fi
}
cms=/api/v1/namespaces/kube-system/configmaps
merge=application/merge-patch+json
cm() { echo "{\"metadata\":{\"name\":\"$1\",\"labels\":{\"mx-consumer-cim\":\"true\"}},\"data\":{\"DeviceInfoCfg\":\"{}\"}}"; }
event() { echo "{\"metadata\":{\"generateName\":\"npu-\"},\"involvedObject\":{\"kind\":\"Node\",\"name\":\"$1\"},\"reason\":\"ChipFault\",\"message\":\"m\",\"type\":\"Warning\"}"; }

echo "==> what the plugin on node-a does (allowed)"
expect 201 "$bound" "create its device-info ConfigMap" POST $cms application/json "$(cm mindx-dl-deviceinfo-node-a)"
expect 200 "$bound" "update its device-info ConfigMap" PUT $cms/mindx-dl-deviceinfo-node-a application/json "$(cm mindx-dl-deviceinfo-node-a)"
expect 200 "$bound" "get its device-info ConfigMap" GET $cms/mindx-dl-deviceinfo-node-a
expect 200 "$bound" "list the fault-config ConfigMap by name" GET "$cms?fieldSelector=metadata.name%3Dmindx-dl-fault-config"
expect 200 "$bound" "watch the fault-config ConfigMap by name" GET "$cms?fieldSelector=metadata.name%3Dmindx-dl-fault-config&watch=true&timeoutSeconds=1"
expect 200 "$bound" "label and annotate its node" PATCH /api/v1/nodes/node-a $merge '{"metadata":{"labels":{"accelerator":"huawei-Ascend910","servertype":"Ascend910B-20"},"annotations":{"baseDeviceInfos":"{}"}}}'
admin_do PATCH /api/v1/nodes/node-a $merge '{"metadata":{"labels":{"huawei.com/Ascend910-Recover":"Ascend910-0"}}}'
expect 200 "$bound" "remove the recover label from its node" PATCH /api/v1/nodes/node-a $merge '{"metadata":{"labels":{"huawei.com/Ascend910-Recover":null}}}'
expect 200 "$bound" "list pods on its node" GET "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a"
expect 200 "$bound" "annotate a pod on its node" PATCH /api/v1/namespaces/default/pods/work-a $merge '{"metadata":{"annotations":{"huawei.com/AscendReal":"Ascend910-0"}}}'
expect 201 "$bound" "record an Event about its node" POST /api/v1/namespaces/default/events application/json "$(event node-a)"

echo "==> what RBAC refuses"
expect 403:rbac "$bound" "list every ConfigMap in kube-system" GET $cms
expect 403:rbac "$bound" "delete its device-info ConfigMap" DELETE $cms/mindx-dl-deviceinfo-node-a
expect 403:rbac "$bound" "read a Secret" GET /api/v1/namespaces/kube-system/secrets
expect 403:rbac "$bound" "update (not patch) a pod" PUT /api/v1/namespaces/default/pods/work-a application/json '{}'
expect 403:rbac "$bound" "patch node status" PATCH /api/v1/nodes/node-a/status $merge '{"status":{"capacity":{"huawei.com/Ascend910":"64"}}}'
expect 403:rbac "$bound" "proxy to the node's kubelet" GET /api/v1/nodes/node-a/proxy/pods
expect 403:rbac "$bound" "record an Event in kube-system" POST /api/v1/namespaces/kube-system/events application/json "$(event node-a)"

echo "==> what only the policy refuses (RBAC alone would allow it)"
expect 403:policy "$bound" "create another node's device-info ConfigMap" POST $cms application/json "$(cm mindx-dl-deviceinfo-node-b)"
expect 403:policy "$bound" "overwrite coredns" PUT $cms/coredns application/json '{"metadata":{"name":"coredns"},"data":{"Corefile":"evil"}}'
expect 403:policy "$bound" "label another node" PATCH /api/v1/nodes/node-b $merge '{"metadata":{"labels":{"accelerator":"huawei-Ascend910"}}}'
expect 403:policy "$bound" "give its node a foreign label" PATCH /api/v1/nodes/node-a $merge '{"metadata":{"labels":{"node-role.kubernetes.io/control-plane":""}}}'
expect 403:policy "$bound" "change its node's spec" PATCH /api/v1/nodes/node-a $merge '{"spec":{"unschedulable":true}}'
expect 403:policy "$bound" "annotate a pod on another node" PATCH /api/v1/namespaces/default/pods/work-b $merge '{"metadata":{"annotations":{"huawei.com/AscendReal":"Ascend910-0"}}}'
expect 403:policy "$bound" "relabel a pod on its node" PATCH /api/v1/namespaces/default/pods/work-a $merge '{"metadata":{"labels":{"app":"other"}}}'
expect 403:policy "$bound" "record an Event about another node" POST /api/v1/namespaces/default/events application/json "$(event node-b)"
expect 403:policy "$unbound" "write with a token not bound to a pod" POST $cms application/json "$(cm mindx-dl-deviceinfo-node-a2)"

echo "admission policy: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
