# Sourced by distributed.sh (mode hosts): two network namespaces joined by a
# veth pair stand in for two hosts. mpirun runs in the first with the
# hostname host-a; its launcher agent (in place of ssh) starts Open MPI's
# daemon in the second as host-b; the ranks talk over TCP across the pair
# (addresses in 10.215.0.0/24, which exist only inside the two namespaces).
# Needs root and CAP_NET_ADMIN: otherwise exits 77 (ctest: skipped) with the reason.
ns_a=xgrad-a-$$ ns_b=xgrad-b-$$
cleanup() { ip netns del "$ns_a" 2>/dev/null; ip netns del "$ns_b" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
if ! reason=$(ip netns add "$ns_a" 2>&1); then
  echo "skipped: cannot create a network namespace (ip netns add: $reason); needs root and CAP_NET_ADMIN"
  exit 77
fi
ip netns add "$ns_b"
ip link add "xgva$$" type veth peer name "xgvb$$"
ip link set "xgva$$" netns "$ns_a"
ip link set "xgvb$$" netns "$ns_b"
ip -n "$ns_a" addr add 10.215.0.1/24 dev "xgva$$"
ip -n "$ns_b" addr add 10.215.0.2/24 dev "xgvb$$"
for ns in "$ns_a" "$ns_b"; do ip -n "$ns" link set lo up; done
ip -n "$ns_a" link set "xgva$$" up
ip -n "$ns_b" link set "xgvb$$" up
cat >"$T/agent.sh" <<AGENT
#!/bin/sh
# Open MPI calls it as ssh: HOST COMMAND...; every host but host-a is host-b
host=\$1
shift
exec ip netns exec $ns_b unshare --uts sh -c "hostname host-b; \$*"
AGENT
chmod +x "$T/agent.sh"

ok "one process, --grad-accum 2" "$XGRAD" "${run[@]}" --grad-accum 2 --out "$T/accum2.ck"
ok "2 ranks on 2 hosts" ip netns exec "$ns_a" unshare --uts sh -c 'hostname host-a; exec "$@"' sh \
  env OMPI_MCA_plm_rsh_agent="$T/agent.sh" OMPI_MCA_btl=self,tcp \
  OMPI_MCA_oob_tcp_if_include=10.215.0.0/24 OMPI_MCA_btl_tcp_if_include=10.215.0.0/24 \
  mpirun --timeout 60 --host 10.215.0.1:1,10.215.0.2:1 -np 2 "$XGRAD" "${run[@]}" --out "$T/hosts.ck"
if head -1 "$T/stdout" | grep -q '^2 ranks on 2 hosts (host-a, host-b)'; then pass; else fail "first line: $(head -1 "$T/stdout") $(head -c 600 "$T/stderr")"; fi
same "two hosts against --grad-accum 2" "$T/hosts.ck" "$T/accum2.ck"
