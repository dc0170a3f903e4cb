// Package rbacaudit holds RBAC manifests against kube-apiserver's audit log:
// which (verb, resource, namespace, name) grants the manifests give a
// ServiceAccount, which of them the account's requests exercised (the role
// is minimal when every grant was used), and which of its requests the
// server refused with 403 (the role is sufficient when none was).
package rbacaudit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"ascend-device-plugin/tests/e2e/internal/manifest"
)

// Grant is one verb on one resource that the manifests give the account.
type Grant struct {
	// Namespace is where the grant holds; "" = every namespace and
	// cluster-scoped resources (a ClusterRoleBinding).
	Namespace string
	APIGroup  string
	// Resource is the plural name, with "/subresource" when the rule names one.
	Resource string
	Verb     string
	// Name restricts the grant to one object (resourceNames); "" = any.
	Name string
	// From names the role and binding that give it.
	From string
}

func (g Grant) String() string {
	where := "cluster-wide"
	if g.Namespace != "" {
		where = "in " + g.Namespace
	}
	res := g.Resource
	if g.APIGroup != "" {
		res += "." + g.APIGroup
	}
	if g.Name != "" {
		res += " named " + g.Name
	}
	return fmt.Sprintf("%s %s %s (%s)", g.Verb, res, where, g.From)
}

// Username is the user name of a ServiceAccount's tokens.
func Username(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// Grants returns every grant the RBAC objects among objs give the
// ServiceAccount namespace/name through their bindings. Problems lists what
// a minimal role cannot have: wildcards, nonResourceURLs, bindings to roles
// the manifests do not contain.
func Grants(objs []manifest.Object, namespace, name string) (grants []Grant, problems []string, err error) {
	clusterRoles := map[string]rbacv1.ClusterRole{}
	roles := map[string]rbacv1.Role{}
	var crbs []rbacv1.ClusterRoleBinding
	var rbs []rbacv1.RoleBinding
	for _, obj := range objs {
		var into any
		switch obj.GetKind() {
		case "ClusterRole":
			into = &rbacv1.ClusterRole{}
		case "Role":
			into = &rbacv1.Role{}
		case "ClusterRoleBinding":
			into = &rbacv1.ClusterRoleBinding{}
		case "RoleBinding":
			into = &rbacv1.RoleBinding{}
		default:
			continue
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, into); err != nil {
			return nil, nil, fmt.Errorf("%s %s in %s: %w", obj.GetKind(), obj.GetName(), obj.File, err)
		}
		switch v := into.(type) {
		case *rbacv1.ClusterRole:
			clusterRoles[v.Name] = *v
		case *rbacv1.Role:
			if v.Namespace == "" {
				v.Namespace = "default"
			}
			roles[v.Namespace+"/"+v.Name] = *v
		case *rbacv1.ClusterRoleBinding:
			crbs = append(crbs, *v)
		case *rbacv1.RoleBinding:
			if v.Namespace == "" {
				v.Namespace = "default"
			}
			rbs = append(rbs, *v)
		}
	}
	binds := func(subjects []rbacv1.Subject, bindingNamespace string) bool {
		for _, s := range subjects {
			ns := s.Namespace
			if ns == "" {
				ns = bindingNamespace
			}
			if s.Kind == rbacv1.ServiceAccountKind && s.Name == name && ns == namespace {
				return true
			}
		}
		return false
	}
	add := func(rules []rbacv1.PolicyRule, grantNamespace, from string) {
		for _, r := range rules {
			if len(r.NonResourceURLs) > 0 {
				problems = append(problems, fmt.Sprintf("%s grants nonResourceURLs %v", from, r.NonResourceURLs))
			}
			for _, list := range [][]string{r.APIGroups, r.Resources, r.Verbs, r.ResourceNames} {
				for _, v := range list {
					if strings.Contains(v, "*") {
						problems = append(problems, fmt.Sprintf("%s has a wildcard %q in %+v", from, v, r))
					}
				}
			}
			names := r.ResourceNames
			if len(names) == 0 {
				names = []string{""}
			}
			for _, group := range r.APIGroups {
				for _, res := range r.Resources {
					for _, verb := range r.Verbs {
						for _, n := range names {
							grants = append(grants, Grant{Namespace: grantNamespace, APIGroup: group, Resource: res, Verb: verb, Name: n, From: from})
						}
					}
				}
			}
		}
	}
	for _, b := range crbs {
		if !binds(b.Subjects, "") {
			continue
		}
		from := "ClusterRole " + b.RoleRef.Name + " via ClusterRoleBinding " + b.Name
		cr, ok := clusterRoles[b.RoleRef.Name]
		if b.RoleRef.Kind != "ClusterRole" || !ok {
			problems = append(problems, fmt.Sprintf("ClusterRoleBinding %s refers to %s %s, not in the manifests", b.Name, b.RoleRef.Kind, b.RoleRef.Name))
			continue
		}
		add(cr.Rules, "", from)
	}
	for _, b := range rbs {
		if !binds(b.Subjects, b.Namespace) {
			continue
		}
		from := fmt.Sprintf("%s %s via RoleBinding %s/%s", b.RoleRef.Kind, b.RoleRef.Name, b.Namespace, b.Name)
		switch b.RoleRef.Kind {
		case "Role":
			if r, ok := roles[b.Namespace+"/"+b.RoleRef.Name]; ok {
				add(r.Rules, b.Namespace, from)
				continue
			}
		case "ClusterRole":
			if cr, ok := clusterRoles[b.RoleRef.Name]; ok {
				add(cr.Rules, b.Namespace, from)
				continue
			}
		}
		problems = append(problems, fmt.Sprintf("RoleBinding %s/%s refers to %s %s, not in the manifests", b.Namespace, b.Name, b.RoleRef.Kind, b.RoleRef.Name))
	}
	return grants, problems, nil
}

// ReadLog reads an audit log written with --audit-log-format=json.
func ReadLog(path string) ([]auditv1.Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []auditv1.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for line := 1; sc.Scan(); line++ {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var e auditv1.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, line, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// Covers reports whether the request of e falls under g.
func (g Grant) Covers(e auditv1.Event) bool {
	ref := e.ObjectRef
	if ref == nil || e.Verb != g.Verb || ref.APIGroup != g.APIGroup {
		return false
	}
	res := ref.Resource
	if ref.Subresource != "" {
		res += "/" + ref.Subresource
	}
	if res != g.Resource {
		return false
	}
	if g.Namespace != "" && ref.Namespace != g.Namespace {
		return false
	}
	return g.Name == "" || ref.Name == g.Name
}

// Report is the outcome of Check.
type Report struct {
	// Requests counts the account's requests (one per audit ID).
	Requests int
	// Exercised maps each grant used to how many requests used it.
	Exercised map[Grant]int
	// Unexercised lists grants no request of the account used.
	Unexercised []Grant
	// Forbidden describes the account's requests answered 403.
	Forbidden []string
	// Uncovered are requests allowed although no grant covers them
	// (CheckBy).
	Uncovered []string
}

// Check matches the account's requests in events against grants. A
// request exercises a grant when the grant covers it and it was not
// refused (a 404 on a get still used the right to get).
func Check(grants []Grant, events []auditv1.Event, username string) Report {
	return CheckBy(grants, events, func(e auditv1.Event) bool { return e.User.Username == username })
}

// CheckBy is Check for the requests mine selects (e.g. those of one token
// where several plugins share the account). It also lists, in Uncovered,
// the requests the API server allowed that no grant covers: with several
// overlays' roles applied to one API server, a request only another
// overlay's role allows.
func CheckBy(grants []Grant, events []auditv1.Event, mine func(auditv1.Event) bool) Report {
	r := Report{Exercised: map[Grant]int{}}
	seen := map[string]bool{}
	uncovered := map[string]bool{}
	for _, e := range events {
		if !mine(e) {
			continue
		}
		id := string(e.AuditID)
		if !seen[id] {
			seen[id] = true
			r.Requests++
		}
		if e.ResponseStatus != nil && e.ResponseStatus.Code == 403 {
			if e.Stage == auditv1.StageResponseComplete || e.Stage == auditv1.StagePanic {
				r.Forbidden = append(r.Forbidden, Describe(e))
			}
			continue
		}
		covered := false
		for _, g := range grants {
			if g.Covers(e) {
				r.Exercised[g]++
				covered = true
			}
		}
		if !covered && e.ObjectRef != nil && !uncovered[string(e.AuditID)] {
			uncovered[string(e.AuditID)] = true
			r.Uncovered = append(r.Uncovered, Describe(e))
		}
	}
	for _, g := range grants {
		if r.Exercised[g] == 0 {
			r.Unexercised = append(r.Unexercised, g)
		}
	}
	sort.Strings(r.Forbidden)
	return r
}

// Describe is one line about a request: verb, resource, namespace/name,
// response code, URI, user agent, when it was received.
func Describe(e auditv1.Event) string {
	what := e.RequestURI
	if ref := e.ObjectRef; ref != nil {
		what = ref.Resource
		if ref.Subresource != "" {
			what += "/" + ref.Subresource
		}
		if ref.APIGroup != "" {
			what += "." + ref.APIGroup
		}
		if ref.Namespace != "" || ref.Name != "" {
			what += " " + ref.Namespace + "/" + ref.Name
		}
	}
	code := int32(0)
	if e.ResponseStatus != nil {
		code = e.ResponseStatus.Code
	}
	return fmt.Sprintf("%s %s -> %d (%s, %s, at %s)", e.Verb, what, code, e.RequestURI, e.UserAgent,
		e.RequestReceivedTimestamp.UTC().Format("15:04:05.000000"))
}
