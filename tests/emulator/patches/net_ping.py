"""SSM Run Command that answers `ping` from the emulated network instead of always succeeding.

moto 5.2.5 reports Success with empty output for any SendCommand, even for an instance that does
not exist, so a pipeline's "can stage B reach stage A over the peering?" check could never fail.
Here a `ping -c N <ip>` line is decided from the EC2 data (routes, peerings, security groups,
NACLs) the way the VPC would forward an ICMP echo, and printed like Linux iputils ping. The lines
come from the document SendCommand names, validated and substituted by ssm_documents
(`AWS-RunShellScript`'s `commands`, or the `aws:runShellScript` steps of an account's own Command
document such as the bootstrap's ping document).
"""
import hashlib
import ipaddress
import math
import shlex
import threading

from moto.ec2.models import ec2_backends
from moto.ssm.exceptions import SSMException
from moto.ssm.models import Command, SimpleSystemManagerBackend

from . import ssm_documents

ECHO_REQUEST, ECHO_REPLY = 8, 0


# --- reachability --------------------------------------------------------------------------------

def _in(ip, cidr):
    return bool(cidr) and ipaddress.ip_address(ip) in ipaddress.ip_network(cidr, strict=False)


def _eni_ips(eni):
    return {eni.private_ip_address} | {a.get("PrivateIpAddress") for a in eni.private_ip_addresses}


def _enis_with_ip(ip):
    """Every running instance's ENI holding `ip`, in any account and region (IPs may overlap)."""
    for _account, _region, backend in list(ec2_backends.iter_backends()):
        for instance in backend.all_instances():
            if instance.state == "running":
                for eni in instance.nics.values():
                    if ip in _eni_ips(eni):
                        yield eni


def _route_table(subnet):
    tables = subnet.ec2_backend.route_tables.values()
    explicit = [t for t in tables if subnet.id in t._associations.values()]
    main = [t for t in tables if t.vpc_id == subnet.vpc_id and t.main_association_id]
    return (explicit or main or [None])[0]


def _routed(src, dst, dst_ip):
    """True when src's subnet route table sends dst_ip to dst's VPC: longest prefix match, a
    `local` route only inside the VPC, a peering route only over an active peering that joins
    exactly these two VPCs (so never transitively); anything else (IGW, NAT, TGW…) drops it."""
    table = _route_table(src.subnet)
    routes = [r for r in (table.routes if table else []) if _in(dst_ip, r.destination_cidr_block)]
    if not routes:
        return False
    best = max(routes, key=lambda r: ipaddress.ip_network(r.destination_cidr_block, strict=False).prefixlen)
    src_vpc, dst_vpc = src.subnet.vpc_id, dst.subnet.vpc_id
    if best.local:
        return src_vpc == dst_vpc and src.owner_id == dst.owner_id
    pcx = best.vpc_pcx
    return (pcx is not None and pcx._status.code == "active"
            and {(pcx.vpc.owner_id, pcx.vpc.id), (pcx.peer_vpc.owner_id, pcx.peer_vpc.id)}
            == {(src.owner_id, src_vpc), (dst.owner_id, dst_vpc)})


def _icmp_rule(protocol, icmp_type, icmp_code, wanted_type):
    protocol = str(protocol).lower()
    if protocol in ("-1", "all"):
        return True
    if protocol not in ("1", "icmp"):
        return False
    return str(icmp_type) in ("-1", "None", str(wanted_type)) and str(icmp_code) in ("-1", "None", "0")


def _groups_allow(groups, egress, peer_ip, peer_groups):
    """Security groups are stateful: the echo request needs an ingress rule at the destination and
    an egress rule at the source; the reply is let through by connection tracking."""
    peer_group_ids = {g.id for g in peer_groups}
    for group in groups:
        for rule in group.egress_rules if egress else group.ingress_rules:
            if not _icmp_rule(rule.ip_protocol, rule.from_port, rule.to_port, ECHO_REQUEST):
                continue
            if _in(peer_ip, rule.ip_range.get("CidrIp")) or rule.source_group.get("GroupId") in peer_group_ids:
                return True
    return False


def _nacl_allows(subnet, egress, peer_ip, icmp_type):
    """NACLs are stateless: evaluated in rule-number order, first match wins, default deny."""
    acls = subnet.ec2_backend.network_acls.values()
    acl = next((a for a in acls if any(x.subnet_id == subnet.id for x in a._associations.values())), None)
    if acl is None:
        return True
    entries = [e for e in acl.network_acl_entries if str(e.egress).lower() == str(egress).lower()]
    for entry in sorted(entries, key=lambda e: int(e.rule_number)):
        if _in(peer_ip, entry.cidr_block) and _icmp_rule(entry.protocol, entry.icmp_type, entry.icmp_code, icmp_type):
            return entry.rule_action == "allow"
    return False


def _path(src, dst, src_ip, dst_ip):
    return (_routed(src, dst, dst_ip) and _routed(dst, src, src_ip)
            and _groups_allow(src.group_set, True, dst_ip, dst.group_set)
            and _groups_allow(dst.group_set, False, src_ip, src.group_set)
            and _nacl_allows(src.subnet, True, dst_ip, ECHO_REQUEST)
            and _nacl_allows(dst.subnet, False, src_ip, ECHO_REQUEST)
            and _nacl_allows(dst.subnet, True, src_ip, ECHO_REPLY)
            and _nacl_allows(src.subnet, False, dst_ip, ECHO_REPLY))


def reachable(instance, dst_ip):
    src = instance.nics[0]
    if dst_ip in _eni_ips(src) or ipaddress.ip_address(dst_ip).is_loopback:
        return True
    return any(_path(src, dst, src.private_ip_address, dst_ip) for dst in _enis_with_ip(dst_ip))


# --- ping ----------------------------------------------------------------------------------------

def parse_ping(line):
    """(count, interval, quiet, ip) for a plain `ping -c N [...] <IPv4>` line, else None."""
    try:
        argv = shlex.split(line)
    except ValueError:
        return None
    if not argv or argv[0].rsplit("/", 1)[-1] != "ping":
        return None
    options, host, args = {}, None, iter(argv[1:])
    for arg in args:
        if arg in ("-q", "-n", "-4"):
            options[arg] = True
        elif arg[:2] in ("-c", "-W", "-w", "-i", "-s", "-t"):
            options[arg[:2]] = arg[2:] or next(args, "")
        elif arg.startswith("-") or host is not None:
            return None
        else:
            host = arg
    try:
        ipaddress.IPv4Address(host or "")
        count, interval = int(options["-c"]), float(options.get("-i", 1))
    except (KeyError, ValueError):
        return None
    return (count, interval, "-q" in options, host) if count > 0 else None


def render_ping(ip, count, interval, quiet, ok, seed):
    """stdout and exit status of iputils ping; round-trip times are stable per (source, ip)."""
    digest = hashlib.sha256(seed.encode()).digest()
    times = [0.35 + digest[i % len(digest)] / 1000 for i in range(count)]
    elapsed = int((count - 1) * interval * 1000) + (digest[0] % 5 if ok else 40 + digest[0] % 20)
    lines = [f"PING {ip} ({ip}) 56(84) bytes of data."]
    if ok and not quiet:
        lines += [f"64 bytes from {ip}: icmp_seq={n} ttl=64 time={t:.3f} ms" for n, t in enumerate(times, 1)]
    lines += ["", f"--- {ip} ping statistics ---"]
    if ok:
        avg = sum(times) / count
        mdev = math.sqrt(max(sum(t * t for t in times) / count - avg * avg, 0))
        lines += [f"{count} packets transmitted, {count} received, 0% packet loss, time {elapsed}ms",
                  f"rtt min/avg/max/mdev = {min(times):.3f}/{avg:.3f}/{max(times):.3f}/{mdev:.3f} ms"]
    else:
        lines += [f"{count} packets transmitted, 0 received, 100% packet loss, time {elapsed}ms"]
    return "\n".join(lines) + "\n", 0 if ok else 1


def run_script(instance, commands):
    """Runs the AWS-RunShellScript lines as /bin/sh would for what is emulated: ping lines are
    decided by the network, other lines succeed silently (moto's behaviour); the script's exit
    status is its last command's, or the first failure's after `set -e`."""
    stdout, status, errexit = "", 0, False
    for line in "\n".join(commands).splitlines():
        if line.strip() in ("set -e", "set -o errexit"):
            errexit = True
            continue
        ping = parse_ping(line)
        if ping is None:
            status = 0
            continue
        count, interval, quiet, ip = ping
        output, status = render_ping(ip, count, interval, quiet, reachable(instance, ip), f"{instance.id}>{ip}")
        stdout += output
        if status and errexit:
            break
    return stdout, status


# --- SSM patches ---------------------------------------------------------------------------------

def _send_command(self, *args, **kwargs):
    # AWS refuses instances that are not this account's running managed instances.
    ec2 = ec2_backends[self.account_id][self.region_name]
    running = {i.id for i in ec2.all_instances() if i.state == "running"}
    unknown = [i for i in kwargs.get("instance_ids") or [] if i not in running]
    if unknown:
        raise SSMException(
            "InvalidInstanceId",
            f"Instances [[{', '.join(unknown)}]] not in a valid state for account {self.account_id}",
        )
    # The document and its parameters are validated at SendCommand, as on AWS (ssm_documents).
    content = ssm_documents.document_content(self, kwargs.get("document_name") or "")
    values = ssm_documents.resolve_parameters(content, kwargs.get("parameters"))
    command = _orig_send_command(self, *args, **kwargs)
    for invocation in command.invocations:
        instance = ec2.get_instance(invocation["InstanceId"])
        stdout, status, stderr = "", 0, ""
        for action, lines in ssm_documents.steps(content, values):
            if action != "aws:runShellScript":
                status, stderr = 1, f"emulator: step action {action} is not emulated"
                break
            out, status = run_script(instance, lines)
            stdout += out
            if status:
                stderr = f"failed to run commands: exit status {status}"
                break
        invocation.update(StandardOutputContent=stdout, ResponseCode=status)
        if status:
            invocation.update(Status="Failed", StatusDetails="Failed", StandardErrorContent=stderr)
    return command


def _targets_instance_ids(self):
    # moto treats "no Targets" as "every instance in the account"; AWS targets nothing extra.
    return _orig_targets_instance_ids(self) if self.targets else []


_reads_lock = threading.Lock()


def _get_invocation(self, instance_id, plugin_name):
    """Eventual consistency as on AWS: right after SendCommand the invocation is not yet visible
    (InvocationDoesNotExist), then InProgress, then the result, so clients must poll."""
    invocation = _orig_get_invocation(self, instance_id, plugin_name)
    with _reads_lock:
        reads = self.__dict__.setdefault("_emulator_reads", {})
        reads[instance_id] = seen = reads.get(instance_id, 0) + 1
    if seen == 1:
        raise SSMException("InvocationDoesNotExist", "")
    if seen == 2:
        return {**invocation, "Status": "InProgress", "StatusDetails": "InProgress", "ResponseCode": -1,
                "StandardOutputContent": "", "StandardErrorContent": "",
                "ExecutionElapsedTime": "", "ExecutionEndDateTime": ""}
    return invocation


_orig_send_command = SimpleSystemManagerBackend.send_command
_orig_targets_instance_ids = Command._get_instance_ids_from_targets
_orig_get_invocation = Command.get_invocation


def apply():
    SimpleSystemManagerBackend.send_command = _send_command
    Command._get_instance_ids_from_targets = _targets_instance_ids
    Command.get_invocation = _get_invocation
