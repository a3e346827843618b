package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

var (
	strictDecoder = json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		json.SerializerOptions{Strict: true})
	typeConverter = applyconfigurations.NewTypeConverter(scheme.Scheme)
)

// Check validates the YAML documents in data and returns the kinds of the
// objects found (Kind/name) and every problem, each naming its object.
func Check(data []byte) (objects []string, problems []string) {
	var objs []runtime.Object
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return objects, append(problems, fmt.Sprintf("document %d: reading YAML: %v", i, err))
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, id, errs := decode(doc)
		if id == "" {
			id = fmt.Sprintf("document %d", i)
		}
		for _, e := range errs {
			problems = append(problems, fmt.Sprintf("%s: %v", id, e))
		}
		if obj != nil {
			objects = append(objects, id)
			objs = append(objs, obj)
		}
	}
	if len(objs) == 0 && len(problems) == 0 {
		problems = append(problems, "no Kubernetes objects: did the rendering fail?")
	}
	problems = append(problems, checkObjects(objs)...)
	return objects, problems
}

// decode turns one document into its typed API object, strictly, and
// checks it against the embedded schema.
func decode(doc []byte) (runtime.Object, string, []error) {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, "", []error{fmt.Errorf("not valid YAML (or a key appears twice): %w", err)}
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		return nil, "", []error{fmt.Errorf("not a Kubernetes object: %w", err)}
	}
	gvk := u.GroupVersionKind()
	id := gvk.Kind + "/" + u.GetName()
	if !scheme.Scheme.Recognizes(gvk) {
		return nil, id, []error{fmt.Errorf("%s is not a built-in kind of this Kubernetes version", gvk)}
	}
	var errs []error
	if _, err := typeConverter.ObjectToTyped(u); err != nil {
		errs = append(errs, fmt.Errorf("against the OpenAPI schema: %w", err))
	}
	obj, _, err := strictDecoder.Decode(js, nil, nil)
	if err != nil {
		errs = append(errs, fmt.Errorf("against the API type: %w", err))
		if !runtime.IsStrictDecodingError(err) {
			// A value that does not decode (a bad quantity, say) leaves
			// no object for the rules below.
			return nil, id, errs
		}
	}
	return obj, id, errs
}

// checkObjects applies the API server's rules the schema does not carry,
// and checks references between the objects.
func checkObjects(objs []runtime.Object) []string {
	var problems []string
	add := func(id string, errs field.ErrorList) {
		for _, e := range errs {
			problems = append(problems, fmt.Sprintf("%s: %v", id, e))
		}
	}
	deployments := map[string]*appsv1.Deployment{}
	services := map[string]*corev1.Service{}
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.Deployment:
			deployments[o.Name] = o
		case *corev1.Service:
			services[o.Name] = o
		}
	}
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.Deployment:
			id := "Deployment/" + o.Name
			add(id, checkMeta(o.ObjectMeta, false))
			add(id, checkDeployment(o))
		case *corev1.Service:
			id := "Service/" + o.Name
			add(id, checkMeta(o.ObjectMeta, true))
			add(id, checkService(o, deployments))
		case *networkingv1.Ingress:
			id := "Ingress/" + o.Name
			add(id, checkMeta(o.ObjectMeta, false))
			add(id, checkIngress(o, services))
		case *policyv1.PodDisruptionBudget:
			id := "PodDisruptionBudget/" + o.Name
			add(id, checkMeta(o.ObjectMeta, false))
			add(id, checkPDB(o, deployments))
		case *autoscalingv2.HorizontalPodAutoscaler:
			id := "HorizontalPodAutoscaler/" + o.Name
			add(id, checkMeta(o.ObjectMeta, false))
			add(id, checkHPA(o, deployments))
		case *corev1.ServiceAccount:
			add("ServiceAccount/"+o.Name, checkMeta(o.ObjectMeta, false))
		case *corev1.Secret:
			add("Secret/"+o.Name, checkMeta(o.ObjectMeta, false))
		case *corev1.ConfigMap:
			add("ConfigMap/"+o.Name, checkMeta(o.ObjectMeta, false))
		}
	}
	return problems
}

func checkMeta(m metav1.ObjectMeta, dns1035 bool) field.ErrorList {
	p := field.NewPath("metadata")
	var errs field.ErrorList
	check := validation.IsDNS1123Subdomain
	if dns1035 {
		check = validation.IsDNS1035Label
	}
	for _, msg := range check(m.Name) {
		errs = append(errs, field.Invalid(p.Child("name"), m.Name, msg))
	}
	errs = append(errs, metav1validation.ValidateLabels(m.Labels, p.Child("labels"))...)
	for k := range m.Annotations {
		for _, msg := range validation.IsQualifiedName(strings.ToLower(k)) {
			errs = append(errs, field.Invalid(p.Child("annotations"), k, msg))
		}
	}
	return errs
}

func checkDeployment(d *appsv1.Deployment) field.ErrorList {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels)+len(d.Spec.Selector.MatchExpressions) == 0 {
		errs = append(errs, field.Required(spec.Child("selector"), "a Deployment needs a non-empty selector"))
	} else {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil {
			errs = append(errs, field.Invalid(spec.Child("selector"), d.Spec.Selector, err.Error()))
		} else if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			errs = append(errs, field.Invalid(spec.Child("template", "metadata", "labels"), d.Spec.Template.Labels, "does not match spec.selector"))
		}
	}
	if d.Spec.Replicas != nil && *d.Spec.Replicas < 0 {
		errs = append(errs, field.Invalid(spec.Child("replicas"), *d.Spec.Replicas, "must not be negative"))
	}
	errs = append(errs, metav1validation.ValidateLabels(d.Spec.Template.Labels, spec.Child("template", "metadata", "labels"))...)
	errs = append(errs, checkPodSpec(&d.Spec.Template.Spec, spec.Child("template", "spec"))...)
	return errs
}

func checkPodSpec(ps *corev1.PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(ps.Containers) == 0 {
		errs = append(errs, field.Required(p.Child("containers"), "at least one container"))
	}
	volumes := map[string]bool{}
	for i, v := range ps.Volumes {
		for _, msg := range validation.IsDNS1123Label(v.Name) {
			errs = append(errs, field.Invalid(p.Child("volumes").Index(i).Child("name"), v.Name, msg))
		}
		if volumes[v.Name] {
			errs = append(errs, field.Duplicate(p.Child("volumes").Index(i).Child("name"), v.Name))
		}
		volumes[v.Name] = true
	}
	for i := range ps.Containers {
		errs = append(errs, checkContainer(&ps.Containers[i], volumes, p.Child("containers").Index(i))...)
	}
	for i, c := range ps.TopologySpreadConstraints {
		cp := p.Child("topologySpreadConstraints").Index(i)
		if c.MaxSkew < 1 {
			errs = append(errs, field.Invalid(cp.Child("maxSkew"), c.MaxSkew, "must be at least 1"))
		}
		if c.TopologyKey == "" {
			errs = append(errs, field.Required(cp.Child("topologyKey"), ""))
		}
		if c.WhenUnsatisfiable != corev1.DoNotSchedule && c.WhenUnsatisfiable != corev1.ScheduleAnyway {
			errs = append(errs, field.NotSupported(cp.Child("whenUnsatisfiable"), c.WhenUnsatisfiable, []string{string(corev1.DoNotSchedule), string(corev1.ScheduleAnyway)}))
		}
	}
	return errs
}

func checkContainer(c *corev1.Container, volumes map[string]bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(c.Name) {
		errs = append(errs, field.Invalid(p.Child("name"), c.Name, msg))
	}
	if strings.TrimSpace(c.Image) == "" {
		errs = append(errs, field.Required(p.Child("image"), ""))
	}
	ports := map[string]bool{}
	for i, port := range c.Ports {
		pp := p.Child("ports").Index(i)
		for _, msg := range validation.IsValidPortNum(int(port.ContainerPort)) {
			errs = append(errs, field.Invalid(pp.Child("containerPort"), port.ContainerPort, msg))
		}
		if port.Name != "" {
			for _, msg := range validation.IsValidPortName(port.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), port.Name, msg))
			}
			ports[port.Name] = true
		}
	}
	for i, e := range c.Env {
		ep := p.Child("env").Index(i)
		for _, msg := range validation.IsEnvVarName(e.Name) {
			errs = append(errs, field.Invalid(ep.Child("name"), e.Name, msg))
		}
		if e.ValueFrom != nil && e.Value != "" {
			errs = append(errs, field.Invalid(ep.Child("valueFrom"), "", "may not be set with value"))
		}
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			ref := e.ValueFrom.SecretKeyRef
			if ref.Name == "" {
				errs = append(errs, field.Required(ep.Child("valueFrom", "secretKeyRef", "name"), ""))
			}
			for _, msg := range validation.IsConfigMapKey(ref.Key) {
				errs = append(errs, field.Invalid(ep.Child("valueFrom", "secretKeyRef", "key"), ref.Key, msg))
			}
		}
	}
	probes := map[string]*corev1.Probe{"livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe, "startupProbe": c.StartupProbe}
	for _, name := range []string{"livenessProbe", "readinessProbe", "startupProbe"} {
		pr := probes[name]
		if pr == nil {
			continue
		}
		pp := p.Child(name)
		if pr.HTTPGet == nil && pr.TCPSocket == nil && pr.Exec == nil && pr.GRPC == nil {
			errs = append(errs, field.Required(pp, "a probe needs an action (httpGet, tcpSocket, exec or grpc)"))
		}
		if pr.HTTPGet != nil {
			errs = append(errs, checkPortRef(pr.HTTPGet.Port, ports, pp.Child("httpGet", "port"))...)
			if !strings.HasPrefix(pr.HTTPGet.Path, "/") {
				errs = append(errs, field.Invalid(pp.Child("httpGet", "path"), pr.HTTPGet.Path, "must start with /"))
			}
		}
		if name != "readinessProbe" && pr.SuccessThreshold > 1 {
			errs = append(errs, field.Invalid(pp.Child("successThreshold"), pr.SuccessThreshold, "must be 1"))
		}
	}
	for i, m := range c.VolumeMounts {
		if !volumes[m.Name] {
			errs = append(errs, field.NotFound(p.Child("volumeMounts").Index(i).Child("name"), m.Name))
		}
		if !strings.HasPrefix(m.MountPath, "/") {
			errs = append(errs, field.Invalid(p.Child("volumeMounts").Index(i).Child("mountPath"), m.MountPath, "must be absolute"))
		}
	}
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil && c.Lifecycle.PreStop.Sleep.Seconds < 0 {
		errs = append(errs, field.Invalid(p.Child("lifecycle", "preStop", "sleep", "seconds"), c.Lifecycle.PreStop.Sleep.Seconds, "must not be negative"))
	}
	return errs
}

// checkPortRef checks a port given by number or by the name of a declared
// container port.
func checkPortRef(port intstr.IntOrString, named map[string]bool, p *field.Path) field.ErrorList {
	if port.Type == intstr.Int {
		var errs field.ErrorList
		for _, msg := range validation.IsValidPortNum(port.IntValue()) {
			errs = append(errs, field.Invalid(p, port.IntValue(), msg))
		}
		return errs
	}
	if !named[port.StrVal] {
		return field.ErrorList{field.NotFound(p, port.StrVal)}
	}
	return nil
}

func checkService(s *corev1.Service, deployments map[string]*appsv1.Deployment) field.ErrorList {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	if len(s.Spec.Ports) == 0 && s.Spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(spec.Child("ports"), ""))
	}
	for i, port := range s.Spec.Ports {
		pp := spec.Child("ports").Index(i)
		for _, msg := range validation.IsValidPortNum(int(port.Port)) {
			errs = append(errs, field.Invalid(pp.Child("port"), port.Port, msg))
		}
		if len(s.Spec.Ports) > 1 || port.Name != "" {
			for _, msg := range validation.IsDNS1123Label(port.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), port.Name, msg))
			}
		}
		if port.TargetPort.Type == intstr.String {
			if !selectsPortName(s.Spec.Selector, port.TargetPort.StrVal, deployments) {
				errs = append(errs, field.NotFound(pp.Child("targetPort"), port.TargetPort.StrVal+" (no selected pod declares it)"))
			}
		}
	}
	if len(s.Spec.Selector) > 0 {
		found := false
		for _, d := range deployments {
			if labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
				found = true
			}
		}
		if !found {
			errs = append(errs, field.Invalid(spec.Child("selector"), s.Spec.Selector, "selects the pods of no Deployment in this rendering"))
		}
	}
	return errs
}

func selectsPortName(sel map[string]string, name string, deployments map[string]*appsv1.Deployment) bool {
	for _, d := range deployments {
		if !labels.SelectorFromSet(sel).Matches(labels.Set(d.Spec.Template.Labels)) {
			continue
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == name }) {
				return true
			}
		}
	}
	return false
}

func checkIngress(in *networkingv1.Ingress, services map[string]*corev1.Service) field.ErrorList {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	if len(in.Spec.Rules) == 0 && in.Spec.DefaultBackend == nil {
		errs = append(errs, field.Required(spec.Child("rules"), "rules or defaultBackend"))
	}
	for i, r := range in.Spec.Rules {
		rp := spec.Child("rules").Index(i)
		if r.Host != "" {
			for _, msg := range validation.IsDNS1123Subdomain(strings.TrimPrefix(r.Host, "*.")) {
				errs = append(errs, field.Invalid(rp.Child("host"), r.Host, msg))
			}
		}
		if r.HTTP == nil {
			continue
		}
		for j, path := range r.HTTP.Paths {
			pp := rp.Child("http", "paths").Index(j)
			if path.PathType == nil {
				errs = append(errs, field.Required(pp.Child("pathType"), ""))
			} else if !slices.Contains([]networkingv1.PathType{networkingv1.PathTypeExact, networkingv1.PathTypePrefix, networkingv1.PathTypeImplementationSpecific}, *path.PathType) {
				errs = append(errs, field.NotSupported(pp.Child("pathType"), *path.PathType, []string{"Exact", "Prefix", "ImplementationSpecific"}))
			}
			if !strings.HasPrefix(path.Path, "/") {
				errs = append(errs, field.Invalid(pp.Child("path"), path.Path, "must be an absolute path"))
			}
			b := path.Backend.Service
			if b == nil {
				errs = append(errs, field.Required(pp.Child("backend", "service"), ""))
				continue
			}
			svc, ok := services[b.Name]
			if !ok {
				errs = append(errs, field.NotFound(pp.Child("backend", "service", "name"), b.Name))
				continue
			}
			if b.Port.Name != "" && !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == b.Port.Name }) {
				errs = append(errs, field.NotFound(pp.Child("backend", "service", "port", "name"), b.Port.Name))
			}
			if b.Port.Name == "" && !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == b.Port.Number }) {
				errs = append(errs, field.NotFound(pp.Child("backend", "service", "port", "number"), b.Port.Number))
			}
		}
	}
	for i, t := range in.Spec.TLS {
		if t.SecretName == "" {
			errs = append(errs, field.Required(spec.Child("tls").Index(i).Child("secretName"), ""))
		}
	}
	return errs
}

func checkPDB(pdb *policyv1.PodDisruptionBudget, deployments map[string]*appsv1.Deployment) field.ErrorList {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	if (pdb.Spec.MinAvailable == nil) == (pdb.Spec.MaxUnavailable == nil) {
		errs = append(errs, field.Invalid(spec, "", "set exactly one of minAvailable and maxUnavailable"))
	}
	if pdb.Spec.Selector == nil {
		return append(errs, field.Required(spec.Child("selector"), ""))
	}
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		return append(errs, field.Invalid(spec.Child("selector"), pdb.Spec.Selector, err.Error()))
	}
	if !slices.ContainsFunc(slices.Collect(maps.Values(deployments)), func(d *appsv1.Deployment) bool { return sel.Matches(labels.Set(d.Spec.Template.Labels)) }) {
		errs = append(errs, field.Invalid(spec.Child("selector"), pdb.Spec.Selector, "selects the pods of no Deployment in this rendering"))
	}
	return errs
}

func checkHPA(h *autoscalingv2.HorizontalPodAutoscaler, deployments map[string]*appsv1.Deployment) field.ErrorList {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	minReplicas := int32(1)
	if h.Spec.MinReplicas != nil {
		minReplicas = *h.Spec.MinReplicas
	}
	if minReplicas < 1 {
		errs = append(errs, field.Invalid(spec.Child("minReplicas"), minReplicas, "must be at least 1"))
	}
	if h.Spec.MaxReplicas < minReplicas {
		errs = append(errs, field.Invalid(spec.Child("maxReplicas"), h.Spec.MaxReplicas, "must be at least minReplicas"))
	}
	ref := h.Spec.ScaleTargetRef
	if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" {
		errs = append(errs, field.Invalid(spec.Child("scaleTargetRef"), ref, "the chart scales an apps/v1 Deployment"))
	} else if d, ok := deployments[ref.Name]; !ok {
		errs = append(errs, field.NotFound(spec.Child("scaleTargetRef", "name"), ref.Name))
	} else if d.Spec.Replicas != nil {
		errs = append(errs, field.Invalid(spec.Child("scaleTargetRef"), ref.Name, "the Deployment sets replicas, which fights the autoscaler on every upgrade"))
	}
	for i, m := range h.Spec.Metrics {
		mp := spec.Child("metrics").Index(i)
		if m.Type == autoscalingv2.ResourceMetricSourceType {
			if m.Resource == nil {
				errs = append(errs, field.Required(mp.Child("resource"), ""))
				continue
			}
			if u := m.Resource.Target.AverageUtilization; m.Resource.Target.Type == autoscalingv2.UtilizationMetricType && (u == nil || *u < 1) {
				errs = append(errs, field.Invalid(mp.Child("resource", "target", "averageUtilization"), u, "must be at least 1"))
			}
		}
	}
	return errs
}

// stripComments drops comment lines, so that a document holding only
// comments (helm writes "# Source:" headers) counts as empty.
func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] == '#' {
			continue
		}
		out = append(out, line)
	}
	return bytes.Join(out, []byte("\n"))
}
