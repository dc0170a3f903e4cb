package e2e

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"ascend-device-plugin/tests/e2e/internal/rbacaudit"
	"ascend-device-plugin/tests/e2e/internal/testbed"
)

func client(t *testing.T, kubeconfig string) *kubernetes.Clientset {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The API-server harness: RBAC is on, the admin can do anything, and the
// ServiceAccount has exactly the rights applied from the RBAC directory.
func TestAPIServerHarnessEnforcesRBACFromTheAppliedManifests(t *testing.T) {
	ctx := scenario(t, 4*time.Minute)
	cp := testbed.StartControlPlane(t, "testdata/rbac-smoke")
	if len(cp.Applied) != 2 {
		t.Errorf("applied %+v, want the Role and RoleBinding of testdata/rbac-smoke", cp.Applied)
	}
	admin := client(t, cp.AdminConfig)
	sa := client(t, cp.SAConfig)

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "e2e-node", Labels: map[string]string{"accelerator": "huawei-Ascend910"}}}
	if _, err := admin.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatalf("admin creating a node: %v", err)
	}
	if _, err := sa.CoreV1().ConfigMaps("kube-system").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("the ServiceAccount listing configmaps in kube-system (granted): %v", err)
	}
	if _, err := sa.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the ServiceAccount listing secrets: err = %v, want Forbidden", err)
	}
	if _, err := sa.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the ServiceAccount listing configmaps outside kube-system: err = %v, want Forbidden", err)
	}
	if err := sa.CoreV1().Nodes().Delete(ctx, "e2e-node", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the ServiceAccount deleting a node: err = %v, want Forbidden", err)
	}
}

// kube-apiserver stops and starts again on the same etcd: it is the same
// server to its clients (URL, certificate, ServiceAccount token), the data
// survives, and its audit log records who did what, refusals included.
func TestAPIServerHarnessRestartsOnTheSameEtcdAndAudits(t *testing.T) {
	ctx := scenario(t, 4*time.Minute)
	cp := testbed.StartControlPlane(t, "testdata/rbac-smoke")
	admin := client(t, cp.AdminConfig)
	sa := client(t, cp.SAConfig)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "e2e-node"}}
	if _, err := admin.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatalf("admin creating a node: %v", err)
	}
	if _, err := sa.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the ServiceAccount listing secrets: err = %v, want Forbidden", err)
	}

	url := cp.URL
	cp.StopAPIServer(t)
	if _, err := admin.CoreV1().Nodes().Get(ctx, "e2e-node", metav1.GetOptions{}); err == nil {
		t.Errorf("the API server answered while stopped")
	}
	cp.StartAPIServer(t)
	if cp.URL != url {
		t.Errorf("restarted API server at %s, want the same URL %s", cp.URL, url)
	}
	if _, err := admin.CoreV1().Nodes().Get(ctx, "e2e-node", metav1.GetOptions{}); err != nil {
		t.Errorf("the node created before the restart (old admin client): %v", err)
	}
	if _, err := sa.CoreV1().ConfigMaps("kube-system").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("the ServiceAccount's old token after the restart: %v", err)
	}

	events, err := rbacaudit.ReadLog(cp.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	user := rbacaudit.Username("kube-system", "ascend-device-plugin")
	var forbidden, lists int
	for _, e := range events {
		if e.User.Username != user || e.ObjectRef == nil || e.ResponseStatus == nil {
			continue
		}
		switch {
		case e.Verb == "list" && e.ObjectRef.Resource == "secrets" && e.ResponseStatus.Code == 403:
			forbidden++
		case e.Verb == "list" && e.ObjectRef.Resource == "configmaps" && e.ResponseStatus.Code == 200:
			lists++
		}
	}
	if forbidden != 1 || lists != 1 {
		t.Errorf("audit log: %d refused secret lists and %d configmap lists by %s, want 1 and 1 (one before, one after the restart)", forbidden, lists, user)
	}
}
