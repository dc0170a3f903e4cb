package e2e

// The soak's pods: the driver plays Volcano (a pod bound to the node with
// the chips it chose and predicate-time written on it) and kubelet (admit
// it through the device manager, end it later); every admission, every
// pod-resources listing and every write-back is checked against what
// Volcano wrote.

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"

	"ascend-device-plugin/tests/e2e/internal/soak"
	"ascend-device-plugin/tests/e2e/internal/testbed"
)

// soakLivePods is about how many pods the driver keeps running.
const soakLivePods = 3

// podState is what the pod loop keeps between iterations.
type podState struct {
	seq int
	// ending are pods ended at kubelet whose API object is not deleted yet
	// (kube-apiserver was down): their chips stay taken, as Volcano counts
	// them until the pod is gone, and no new pod is bound meanwhile.
	ending map[string][]string
}

func (s *soakRun) podLoop(ctx context.Context, admin *kubernetes.Clientset) {
	st := &podState{ending: map[string][]string{}}
	for i := 0; sleepCtx(ctx, s.jitter(time.Second)); i++ {
		s.pause.RLock()
		s.podStep(ctx, admin, st)
		if i%5 == 4 {
			s.comparePodResources(ctx)
		}
		s.pause.RUnlock()
	}
}

func (s *soakRun) podStep(ctx context.Context, admin *kubernetes.Clientset, st *podState) {
	for name := range st.ending {
		if err := deleteSoakPod(ctx, admin, name); err == nil {
			delete(st.ending, name)
		}
	}
	if len(st.ending) > 0 {
		return
	}
	live := s.ledger.Live()
	if len(live) > 0 && (len(live) >= soakLivePods || s.intn(2) == 0) {
		s.endPod(ctx, admin, st, live[s.intn(len(live))])
		return
	}
	s.startPod(ctx, admin, st)
}

// startPod binds a pod with chips no live pod holds and no fault touches,
// and admits it.
func (s *soakRun) startPod(ctx context.Context, admin *kubernetes.Clientset, st *podState) {
	taken := map[string]bool{}
	for _, a := range s.ledger.Live() {
		for _, c := range a.Chips {
			taken[c] = true
		}
	}
	s.mu.Lock()
	var free []string
	for i := 0; i < soakChips; i++ {
		c := chipName(i)
		// Volcano sees a recovery only once the plugin reports it.
		fresh := s.health.RecoveredSince(c, time.Now().Add(-soakHealthLimit))
		if !taken[c] && !s.faulted[c] && s.dropped != c && !fresh {
			free = append(free, c)
		}
	}
	want := []int{1, 1, 2, 2, 4}[s.rng.Intn(5)]
	s.rng.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
	apiDown := s.apiDown
	s.mu.Unlock()
	if apiDown {
		s.count("pods not bound (API server down)", 1)
		return
	}
	if len(free) < want {
		want = len(free)
	}
	if want == 0 {
		return
	}
	chips := free[:want]
	sort.Strings(chips)
	st.seq++
	name := fmt.Sprintf("soak-%d", st.seq)
	pod, err := createSoakPod(ctx, admin, name, chips)
	if err != nil {
		s.count("pods not bound (API error)", 1)
		return
	}
	s.count("pods bound", 1)
	a, err := admitPod(ctx, s.n, pod)
	if err != nil {
		why := s.refusalCause(chips)
		if why == "quiet" {
			s.violate("lost allocation: pod %s with free, Healthy chips %v refused while the API server and the driver answered: %v", name, chips, err)
		}
		if !refused(err) {
			why += ", not answered"
		}
		s.count("admissions refused ("+why+")", 1)
		s.note("refused ("+why+")", fmt.Sprintf("pod %s chips %v: %s", name, chips, pluginMessage(err)))
		if err := deleteSoakPod(ctx, admin, name); err != nil {
			st.ending[name] = chips
		}
		return
	}
	alloc := soak.Allocation{Pod: jobs + "/" + name, UID: string(pod.UID), Chips: chips}
	if len(a.Containers) == 1 {
		alloc.KubeletIDs = a.Containers[0].Devices[ascend910]
		for _, v := range splitList(a.Containers[0].Options.Envs["ASCEND_VISIBLE_DEVICES"]) {
			alloc.Visible = append(alloc.Visible, "Ascend910-"+v)
		}
	}
	for _, v := range s.ledger.Admit(alloc) {
		s.violate("%s", v)
	}
	s.count("pods admitted", 1)
}

// refusalCause names what excuses a refused admission, or "quiet" when
// nothing does: the API server down or just back (5 s: its RBAC caches
// fill), a driver chaos window or the period after it, a chip of the pod
// faulted or dropped since Volcano chose it.
func (s *soakRun) refusalCause(chips []string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.apiDown:
		return "API server down"
	case time.Since(s.apiUpSince) < 5*time.Second:
		return "API server just back"
	case s.health.InChaos():
		return "driver chaos"
	case time.Since(s.health.LastChaosEnd()) < soakHealthLimit:
		// Chips the failing driver could not vouch for come back
		// within a period.
		return "within a period after driver chaos"
	}
	for _, c := range chips {
		if s.faulted[c] || s.dropped == c {
			return "a chip turned Unhealthy"
		}
	}
	return "quiet"
}

// endPod ends a pod at kubelet, checks its write-back, and deletes it.
func (s *soakRun) endPod(ctx context.Context, admin *kubernetes.Clientset, st *podState, a soak.Allocation) {
	if err := s.n.DM.Terminate(ctx, a.UID); err != nil {
		s.violate("kubelet ending pod %s: %v", a.Pod, err)
	}
	s.ledger.Remove(a.Pod)
	name := strings.TrimPrefix(a.Pod, jobs+"/")
	if pod, err := admin.CoreV1().Pods(jobs).Get(ctx, name, metav1.GetOptions{}); err == nil {
		real, klt := pod.Annotations[annAscendReal], pod.Annotations[annKltDev]
		switch {
		case real == "" || klt == "":
			s.count("write-backs missing when the pod ended", 1)
		case !equal(sortedList(real), sortedCopy(a.Chips)) || !equal(sortedList(klt), sortedCopy(a.KubeletIDs)):
			s.violate("pod %s: write-back %s=%q %s=%q, want Volcano's chips %v and kubelet's IDs %v",
				a.Pod, annAscendReal, real, annKltDev, klt, a.Chips, a.KubeletIDs)
		default:
			s.count("write-backs checked", 1)
		}
	}
	if err := deleteSoakPod(ctx, admin, name); err != nil {
		st.ending[name] = a.Chips
	}
	s.count("pods ended", 1)
}

// comparePodResources lists pod-resources and compares with the ledger.
func (s *soakRun) comparePodResources(ctx context.Context) {
	conn, err := grpc.NewClient("unix://"+s.n.PodResources, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		s.violate("pod-resources client: %v", err)
		return
	}
	defer conn.Close()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := podresourcesv1.NewPodResourcesListerClient(conn).List(cctx, &podresourcesv1.ListPodResourcesRequest{})
	if err != nil {
		s.count("pod-resources listings failed", 1)
		return
	}
	listed := map[string][]string{}
	for _, p := range resp.GetPodResources() {
		var ids []string
		for _, c := range p.GetContainers() {
			for _, d := range c.GetDevices() {
				if d.GetResourceName() == ascend910 {
					ids = append(ids, d.GetDeviceIds()...)
				}
			}
		}
		listed[p.GetNamespace()+"/"+p.GetName()] = ids
	}
	for _, v := range s.ledger.Compare(listed) {
		s.violate("%s", v)
	}
	s.count("pod-resources comparisons", 1)
}

// createSoakPod creates a pod as Volcano leaves it once bound: on the
// node, the chips in the huawei.com/Ascend910 annotation, predicate-time
// now.
func createSoakPod(ctx context.Context, admin *kubernetes.Clientset, name string, chips []string) (*corev1.Pod, error) {
	n := resource.NewQuantity(int64(len(chips)), resource.DecimalSI)
	automount := false
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: jobs,
			Annotations: map[string]string{
				ascend910:     strings.Join(chips, ","),
				predicateTime: strconv.FormatInt(time.Now().UnixNano(), 10),
			},
		},
		Spec: corev1.PodSpec{
			NodeName: testbed.DefaultNodeName, SchedulerName: "volcano", AutomountServiceAccountToken: &automount,
			Containers: []corev1.Container{{
				Name: "main", Image: "train:1",
				Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{ascend910: *n},
					Requests: corev1.ResourceList{ascend910: *n},
				},
			}},
		},
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return admin.CoreV1().Pods(jobs).Create(cctx, pod, metav1.CreateOptions{})
}

// deleteSoakPod deletes a pod at once; a pod already gone is fine.
func deleteSoakPod(ctx context.Context, admin *kubernetes.Clientset, name string) error {
	zero := int64(0)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := admin.CoreV1().Pods(jobs).Delete(cctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// drain ends every pod, clears every fault, and checks the node comes
// back whole: every chip Healthy at the device manager, pod-resources
// empty of the soak's pods.
func (s *soakRun) drain(t *testing.T, admin *kubernetes.Clientset) {
	ctx := s.ctx
	for _, a := range s.ledger.Live() {
		_ = s.n.DM.Terminate(ctx, a.UID)
		s.ledger.Remove(a.Pod)
		_ = deleteSoakPod(ctx, admin, strings.TrimPrefix(a.Pod, jobs+"/"))
	}
	for i := 0; i < soakChips; i++ {
		if err := s.simCmd("fault", "clear", "--phy", strconv.Itoa(i)); err != nil {
			t.Error(err)
		}
	}
	dctx, cancel := context.WithTimeout(ctx, healthLimit)
	defer cancel()
	if _, err := s.n.WaitResources(dctx, "every chip Healthy after the soak", healthyExactly(ascend910, allChips(soakChips))); err != nil {
		s.violate("after the soak: %v", err)
	}
	s.comparePodResources(ctx)
}
