# wait_established SECONDS CRD...: returns 0 once every named
# CustomResourceDefinition reports Established=True, 1 after SECONDS. Unlike
# `kubectl wait --for condition=established`, which fails at once while a CRD
# just created has no status yet, it waits for the status to appear.
wait_established() {
  local deadline=$((SECONDS + $1)) crd status
  shift
  for crd in "$@"; do
    while :; do
      status=$(kubectl get "crd/$crd" --request-timeout=10s \
        -o jsonpath='{.status.conditions[?(@.type=="Established")].status}' 2>/dev/null)
      [ "$status" = True ] && break
      if [ $SECONDS -ge "$deadline" ]; then
        echo "CRD $crd is not Established after the wait (status: '${status:-none}')" >&2
        return 1
      fi
      sleep 0.2
    done
  done
}
