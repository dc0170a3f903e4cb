package e2e

// Steps of TestClusterVolcanoNodeWithTheShippedRBAC about RBAC: the audit
// log against the shipped role, and requests outside it.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"ascend-device-plugin/tests/e2e/internal/manifest"
	"ascend-device-plugin/tests/e2e/internal/rbacaudit"
)

func (c *cluster) rbac(t *testing.T) {
	objs, err := manifest.Read(c.cp.RBAC)
	if err != nil {
		t.Fatal(err)
	}
	ns, name, _ := strings.Cut(c.cp.ServiceAccount, "/")
	grants, problems, err := rbacaudit.Grants(objs, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(grants) == 0 {
		t.Fatalf("%s binds nothing to the ServiceAccount %s", c.cp.RBAC, c.cp.ServiceAccount)
	}
	for _, p := range problems {
		t.Errorf("the shipped RBAC is not minimal: %s", p)
	}
	events, err := rbacaudit.ReadLog(c.cp.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	user := rbacaudit.Username(ns, name)
	r := rbacaudit.Check(grants, events, user)
	if r.Requests == 0 {
		t.Fatalf("the audit log has no request by %s: the plugin did not use the ServiceAccount kubeconfig", user)
	}
	for _, f := range r.Forbidden {
		t.Errorf("the shipped RBAC is not sufficient: the plugin's request %s", f)
	}
	for _, g := range r.Unexercised {
		t.Errorf("the shipped RBAC is not minimal: no request of the plugin used %s", g)
	}
	var used []string
	for _, g := range grants {
		used = append(used, fmt.Sprintf("%s: %d", g, r.Exercised[g]))
	}
	t.Logf("%d requests by %s; grants used:\n  %s", r.Requests, user, strings.Join(used, "\n  "))

	// Node labels and annotations are patched only when they differ: a
	// plugin start patches at most twice (labels, annotations).
	var nodePatches int
	var writes []auditv1.Event
	for _, e := range events {
		if e.User.Username != user || e.Stage != auditv1.StageResponseComplete || e.ObjectRef == nil || e.ResponseStatus == nil || e.ResponseStatus.Code >= 300 {
			continue
		}
		ref := e.ObjectRef
		if e.Verb == "patch" && ref.Resource == "nodes" && ref.Subresource == "" {
			nodePatches++
		}
		if (e.Verb == "update" || e.Verb == "create") && ref.Resource == "configmaps" && ref.Name == deviceInfoPrefix+c.node {
			writes = append(writes, e)
		}
	}
	if nodePatches > 2*len(c.starts) {
		t.Errorf("the plugin patched the Node %d times in %d starts; labels and annotations are patched only when they differ", nodePatches, len(c.starts))
	}
	// The device-info ConfigMap is written at most once a second (within
	// one plugin process).
	for i := 1; i < len(writes); i++ {
		a, b := writes[i-1].RequestReceivedTimestamp.Time, writes[i].RequestReceivedTimestamp.Time
		restarted := false
		for _, s := range c.starts {
			restarted = restarted || (s.After(a) && !s.After(b))
		}
		if gap := b.Sub(a); gap < 900*time.Millisecond && !restarted {
			t.Errorf("the plugin wrote ConfigMap %s%s twice within %v (at %s and %s); at most once a second", deviceInfoPrefix, c.node, gap, a.Format(time.RFC3339Nano), b.Format(time.RFC3339Nano))
		}
	}
	t.Logf("node patches: %d in %d starts; device-info ConfigMap writes: %d", nodePatches, len(c.starts), len(writes))
}

func (c *cluster) outsideTheRole(t *testing.T) {
	probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "e2e-probe", Namespace: "default"}, Data: map[string]string{"k": "v"}}
	if _, err := c.admin.CoreV1().ConfigMaps("default").Create(c.ctx, probe, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	probe.Data["k"] = "changed"
	attempts := []struct {
		what string
		do   func() error
	}{
		{"list secrets in kube-system", func() error {
			_, err := c.sa.CoreV1().Secrets("kube-system").List(c.ctx, metav1.ListOptions{})
			return err
		}},
		{"update a ConfigMap in default", func() error {
			_, err := c.sa.CoreV1().ConfigMaps("default").Update(c.ctx, probe, metav1.UpdateOptions{})
			return err
		}},
		{"list ConfigMaps outside kube-system", func() error {
			_, err := c.sa.CoreV1().ConfigMaps("default").List(c.ctx, metav1.ListOptions{})
			return err
		}},
		{"get a Secret in kube-system", func() error {
			_, err := c.sa.CoreV1().Secrets("kube-system").Get(c.ctx, "any", metav1.GetOptions{})
			return err
		}},
		{"delete the Node", func() error {
			return c.sa.CoreV1().Nodes().Delete(c.ctx, c.node, metav1.DeleteOptions{})
		}},
		{"patch the Node's status", func() error {
			_, err := c.sa.CoreV1().Nodes().PatchStatus(c.ctx, c.node, []byte(`{"status":{"capacity":{"huawei.com/Ascend910":"99"}}}`))
			return err
		}},
		{"create a pod", func() error {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "sa-probe"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
			_, err := c.sa.CoreV1().Pods(jobs).Create(c.ctx, p, metav1.CreateOptions{})
			return err
		}},
		{"delete a pod", func() error {
			return c.sa.CoreV1().Pods(jobs).Delete(c.ctx, "vc-a", metav1.DeleteOptions{})
		}},
	}
	for _, a := range attempts {
		if err := a.do(); !apierrors.IsForbidden(err) {
			t.Errorf("the ServiceAccount tried to %s: err = %v, want 403 Forbidden from the API server", a.what, err)
		}
	}
}
