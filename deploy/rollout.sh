#!/usr/bin/env bash
# Roll a new image out to one namespace: migrations first (a Job), then web, worker and beat.
# Usage: deploy/rollout.sh NAMESPACE IMAGE   (the secret fraud-secrets must already exist)
set -euo pipefail
namespace=$1
image=$2
cd "$(dirname "$0")/k8s"

kubectl -n "$namespace" apply -f configmap.yaml -f storage.yaml
# A Job's template cannot change: replace the previous run's Job.
kubectl -n "$namespace" delete job fraud-migrate --ignore-not-found
sed "s|europe-docker.pkg.dev/PROJECT/fraud/fraud-triage:TAG|$image|" migrate-job.yaml | kubectl -n "$namespace" apply -f -
kubectl -n "$namespace" wait --for=condition=complete job/fraud-migrate --timeout=600s

for manifest in web.yaml worker.yaml beat.yaml ingress.yaml; do
  sed "s|europe-docker.pkg.dev/PROJECT/fraud/fraud-triage:TAG|$image|" "$manifest" | kubectl -n "$namespace" apply -f -
done
for deployment in fraud-web fraud-worker fraud-beat; do
  kubectl -n "$namespace" rollout status "deployment/$deployment" --timeout=600s
done
