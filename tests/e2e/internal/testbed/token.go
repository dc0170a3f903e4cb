package testbed

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// CredentialID is the audit event's user extra naming the token used.
const CredentialID = "authentication.kubernetes.io/credential-id"

// NodeNameClaim is the user extra a pod-bound token carries: the node of
// the pod it is bound to. The shipped admission policy reads it.
const NodeNameClaim = "authentication.kubernetes.io/node-name"

// Token is a token of the plugin's ServiceAccount.
type Token struct {
	Token string
	// CredentialID is the token's ID as the audit log shows it.
	CredentialID string
	// Extra is the user extra the API server resolves for it.
	Extra map[string]authenticationv1.ExtraValue
}

// PluginPod creates (as admin) the pod a DaemonSet would run on node: in
// the ServiceAccount's namespace, running as it, bound to node. Tokens
// bound to it carry the node's name, as the DaemonSet's projected token
// does. The Node must exist.
func PluginPod(ctx context.Context, t testing.TB, cp *ControlPlane, node string) *corev1.Pod {
	t.Helper()
	admin := adminClient(t, cp)
	ns, name, _ := strings.Cut(cp.ServiceAccount, "/")
	automount := false
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-" + node, Namespace: ns},
		Spec: corev1.PodSpec{
			NodeName: node, ServiceAccountName: name, AutomountServiceAccountToken: &automount,
			Containers: []corev1.Container{{Name: "device-plugin", Image: "ascend-device-plugin:e2e"}},
		},
	}
	created, err := admin.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating the plugin's pod on %s: %v", node, err)
	}
	return created
}

// MintToken mints a token of the plugin's ServiceAccount (TokenRequest),
// bound to pod when pod is not nil, and resolves it with a TokenReview.
func MintToken(ctx context.Context, t testing.TB, cp *ControlPlane, pod *corev1.Pod) Token {
	t.Helper()
	admin := adminClient(t, cp)
	ns, name, _ := strings.Cut(cp.ServiceAccount, "/")
	seconds := int64(3600)
	spec := authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds}
	if pod != nil {
		spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}
	}
	tr, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	review, err := admin.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: tr.Status.Token},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ids := review.Status.User.Extra[CredentialID]
	if !review.Status.Authenticated || len(ids) != 1 {
		t.Fatalf("the API server gives the minted token no %s (authenticated %v, extra %v): the audit log could not tell its requests apart",
			CredentialID, review.Status.Authenticated, review.Status.User.Extra)
	}
	if pod != nil {
		if got := review.Status.User.Extra[NodeNameClaim]; len(got) != 1 || got[0] != pod.Spec.NodeName {
			t.Fatalf("a token bound to pod %s on %s resolves to %s=%v; the admission policy would refuse every write", pod.Name, pod.Spec.NodeName, NodeNameClaim, got)
		}
	}
	return Token{Token: tr.Status.Token, CredentialID: ids[0], Extra: review.Status.User.Extra}
}

// BoundKubeconfig writes dir/plugin.kubeconfig holding a token bound to a
// plugin pod on node (PluginPod), as the DaemonSet's projected token is,
// and returns its path and the token.
func BoundKubeconfig(ctx context.Context, t testing.TB, cp *ControlPlane, node, dir string) (string, Token) {
	t.Helper()
	tok := MintToken(ctx, t, cp, PluginPod(ctx, t, cp, node))
	return WriteTokenKubeconfig(t, cp, tok.Token, dir), tok
}

// WriteTokenKubeconfig writes dir/plugin.kubeconfig: the ServiceAccount's
// kubeconfig with token in place of its own.
func WriteTokenKubeconfig(t testing.TB, cp *ControlPlane, token, dir string) string {
	t.Helper()
	base, err := clientcmd.LoadFromFile(cp.SAConfig)
	if err != nil {
		t.Fatal(err)
	}
	kc := base.DeepCopy()
	for _, auth := range kc.AuthInfos {
		*auth = clientcmdapi.AuthInfo{Token: token}
	}
	path := filepath.Join(dir, "plugin.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TokenClient is a client of the API server authenticated by token.
func TokenClient(t testing.TB, cp *ControlPlane, token string) *kubernetes.Clientset {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", cp.SAConfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.BearerToken, cfg.BearerTokenFile = token, ""
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func adminClient(t testing.TB, cp *ControlPlane) *kubernetes.Clientset {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", cp.AdminConfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(fmt.Errorf("admin client: %w", err))
	}
	return c
}
