package main

import (
	"strings"
	"testing"
)

// good is a small, valid rendering: each case below breaks one thing in it.
const good = `
# Source: tributary/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: t-tributary
  labels:
    app.kubernetes.io/name: tributary
spec:
  ports:
    - name: http
      port: 80
      targetPort: http
  selector:
    app.kubernetes.io/name: tributary
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: t-tributary
spec:
  selector:
    matchLabels:
      app.kubernetes.io/name: tributary
  template:
    metadata:
      labels:
        app.kubernetes.io/name: tributary
    spec:
      containers:
        - name: tributary
          image: tributary:dev
          ports:
            - name: http
              containerPort: 8080
          env:
            - name: TRIBUTARY_DATABASE_URL
              valueFrom:
                secretKeyRef:
                  name: tributary
                  key: database-url
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
          resources:
            requests:
              cpu: 250m
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir: {}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: t-tributary
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: t-tributary
  minReplicas: 2
  maxReplicas: 5
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: t-tributary
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: tributary
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: t-tributary
spec:
  rules:
    - host: tributary.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: t-tributary
                port:
                  name: http
`

func TestCheckAcceptsAValidRendering(t *testing.T) {
	objects, problems := Check([]byte(good))
	if len(problems) > 0 {
		t.Fatalf("problems in a valid rendering:\n%s", strings.Join(problems, "\n"))
	}
	if len(objects) != 5 {
		t.Fatalf("objects = %v, want 5", objects)
	}
}

func TestCheckRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"an unknown field", "          image: tributary:dev\n", "          image: tributary:dev\n          imagePolicy: Always\n", `unknown field "spec.template.spec.containers[0].imagePolicy"`},
		{"a wrong type", "  minReplicas: 2\n", "  minReplicas: two\n", "minReplicas"},
		{"a bad quantity", "cpu: 250m", "cpu: lots", "quantities must match"},
		{"a kind that is not built in", "kind: PodDisruptionBudget", "kind: PodDisruptionBudgit", "not a built-in kind"},
		{"a key given twice", "  maxUnavailable: 1\n", "  maxUnavailable: 1\n  maxUnavailable: 2\n", "key appears twice"},
		{"a selector that misses the pod labels", "      labels:\n        app.kubernetes.io/name: tributary\n", "      labels:\n        app.kubernetes.io/name: other\n", "does not match spec.selector"},
		{"a probe on an undeclared port", "              port: http\n", "              port: web\n", "readinessProbe.httpGet.port: Not found"},
		{"a mount of an undeclared volume", "            - name: tmp\n", "            - name: scratch\n", "volumeMounts[0].name: Not found"},
		{"a container without an image", "          image: tributary:dev\n", "", "image: Required"},
		{"an invalid name", "  name: t-tributary\nspec:\n  selector:", "  name: T_Tributary\nspec:\n  selector:", "metadata.name: Invalid"},
		{"a bad env name", "name: TRIBUTARY_DATABASE_URL", "name: 1TRIBUTARY", "env[0].name: Invalid"},
		{"an HPA of a missing Deployment", "    kind: Deployment\n    name: t-tributary\n", "    kind: Deployment\n    name: gone\n", "scaleTargetRef.name: Not found"},
		{"an HPA with min above max", "  maxReplicas: 5\n", "  maxReplicas: 1\n", "must be at least minReplicas"},
		{"a PDB with both bounds", "  maxUnavailable: 1\n", "  maxUnavailable: 1\n  minAvailable: 1\n", "exactly one of minAvailable and maxUnavailable"},
		{"an Ingress to a missing Service", "                name: t-tributary\n", "                name: nowhere\n", "backend.service.name: Not found"},
		{"an Ingress path without a type", "            pathType: Prefix\n", "", "pathType: Required"},
		{"a Service port no pod declares", "      targetPort: http\n", "      targetPort: web\n", "no selected pod declares it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.old) {
				t.Fatalf("the case's old text is not in the good rendering: %q", tc.old)
			}
			_, problems := Check([]byte(strings.Replace(good, tc.old, tc.new, 1)))
			all := strings.Join(problems, "\n")
			if !strings.Contains(all, tc.want) {
				t.Fatalf("problems do not mention %q:\n%s", tc.want, all)
			}
		})
	}
}

func TestCheckRefusesAnEmptyRendering(t *testing.T) {
	_, problems := Check([]byte("# Source: nothing\n---\n"))
	if len(problems) != 1 || !strings.Contains(problems[0], "no Kubernetes objects") {
		t.Fatalf("problems = %q", problems)
	}
}
