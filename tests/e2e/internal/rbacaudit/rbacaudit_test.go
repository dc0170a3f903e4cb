package rbacaudit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"ascend-device-plugin/tests/e2e/internal/manifest"
)

const manifests = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: plugin}
rules:
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "patch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: plugin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: plugin}
subjects: [{kind: ServiceAccount, name: sa, namespace: kube-system}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: plugin, namespace: kube-system}
rules:
- apiGroups: [""]
  resources: ["configmaps"]
  resourceNames: ["fault-config"]
  verbs: ["watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: plugin, namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: plugin}
subjects: [{kind: ServiceAccount, name: sa}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: someone-else}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: plugin}
subjects: [{kind: ServiceAccount, name: other, namespace: kube-system}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ignored, namespace: kube-system}
`

func grantsOf(t *testing.T, text string) ([]Grant, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rbac.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	objs, err := manifest.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	grants, problems, err := Grants(objs, "kube-system", "sa")
	if err != nil {
		t.Fatal(err)
	}
	return grants, problems
}

func event(id, user, verb, resource, ns, name string, code int32) auditv1.Event {
	return auditv1.Event{
		AuditID: types.UID("id-" + id), Stage: auditv1.StageResponseComplete, Verb: verb,
		ObjectRef:      &auditv1.ObjectReference{Resource: resource, Namespace: ns, Name: name},
		ResponseStatus: &metav1.Status{Code: code},
		User:           authnv1.UserInfo{Username: user},
	}
}

func TestGrantsExpandEveryRuleBoundToTheAccountAndNothingElse(t *testing.T) {
	grants, problems := grantsOf(t, manifests)
	if len(problems) != 0 {
		t.Errorf("problems = %v, want none", problems)
	}
	var got []string
	for _, g := range grants {
		got = append(got, g.Verb+" "+g.Resource+" ns="+g.Namespace+" name="+g.Name)
	}
	want := []string{"get pods ns= name=", "patch pods ns= name=", "watch configmaps ns=kube-system name=fault-config"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("grants = %q, want %q", got, want)
	}
}

func TestGrantsReportWildcards(t *testing.T) {
	_, problems := grantsOf(t, strings.Replace(manifests, `verbs: ["get", "patch"]`, `verbs: ["*"]`, 1))
	if len(problems) != 1 || !strings.Contains(problems[0], `wildcard "*"`) {
		t.Errorf("problems = %v, want one about the wildcard", problems)
	}
}

func TestCheckFindsUnusedGrantsAndRefusedRequests(t *testing.T) {
	grants, _ := grantsOf(t, manifests)
	sa := Username("kube-system", "sa")
	events := []auditv1.Event{
		event("1", sa, "get", "pods", "jobs", "p", 404),
		event("2", sa, "watch", "configmaps", "kube-system", "fault-config", 200),
		// The same right outside its namespace or name does not count.
		event("3", sa, "watch", "configmaps", "default", "fault-config", 200),
		event("4", sa, "list", "secrets", "kube-system", "", 403),
		// Another user's patch exercises nothing of ours.
		event("5", "admin", "patch", "pods", "jobs", "p", 200),
		// A refused patch does not exercise the grant either.
		event("6", sa, "patch", "pods", "jobs", "p", 403),
	}
	r := Check(grants, events, sa)
	if r.Requests != 5 {
		t.Errorf("requests = %d, want 5", r.Requests)
	}
	if len(r.Unexercised) != 1 || r.Unexercised[0].Verb != "patch" {
		t.Errorf("unexercised = %v, want only the patch on pods", r.Unexercised)
	}
	if len(r.Forbidden) != 2 || !strings.HasPrefix(r.Forbidden[0], "list secrets kube-system/") || !strings.HasPrefix(r.Forbidden[1], "patch pods jobs/p") {
		t.Errorf("forbidden = %q, want the list of secrets and the patch", r.Forbidden)
	}
}
