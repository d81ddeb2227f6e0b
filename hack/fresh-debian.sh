#!/usr/bin/env bash
# The README, followed word for word on a fresh Debian 12: debootstrap a
# bookworm system with Debian's standard apt sources (main, updates,
# security), no Rust, no git; enter it as a real root (a private mount, PID,
# UTS and IPC namespace; pivot_root, not chroot, so that user namespaces work
# inside it, as the tests need); there install git, `git clone` this
# repository (its committed HEAD, not the working tree) and run the README's
# two commands, hack/demo.sh and hack/test.sh, timing each.
#
# Usage (as root): hack/fresh-debian.sh [options]
#   --sources standard|main   apt sources of the fresh system: Debian's
#                             standard three (default), or bookworm main only
#                             (what debootstrap writes: demo.sh must then add
#                             the security archive itself)
#   --run CMD                 run CMD (bash, in the clone) instead of the
#                             README's two commands
#   --keep                    keep the fresh system's directory afterwards
#                             (it is always kept when a command fails)
#   --rebuild                 debootstrap again instead of the cached base
# Environment: RLRT_FRESH_DIR (default /var/tmp/rlrt-fresh), RLRT_CACHE
# (default /var/cache/rootlessrt), RLRT_FRESH_MIRROR (default
# http://deb.debian.org/debian).
#
# The log is $RLRT_FRESH_DIR/run-<time>.log; the last lines give each
# command's exit code and wall time. Nothing stays mounted or running on the
# host: every mount lives in the private mount namespace, every process in
# the private PID namespace, which dies with it (checked at the end).
set -euo pipefail

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
repo=$(cd "$here/.." && pwd)
say() { echo "fresh-debian: $*" >&2; }
die() { say "error: $*"; exit 1; }

sources=standard run= keep=0 rebuild=0
while [ $# -gt 0 ]; do
  case $1 in
    --sources) sources=${2:?}; shift 2 ;;
    --run) run=${2:?}; shift 2 ;;
    --keep) keep=1; shift ;;
    --rebuild) rebuild=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
case $sources in standard|main) ;; *) die "--sources standard|main" ;; esac

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, namespaces, pivot_root)"
for t in debootstrap unshare git; do command -v "$t" >/dev/null || die "$t not found"; done

work=${RLRT_FRESH_DIR:-/var/tmp/rlrt-fresh}
cache=${RLRT_CACHE:-/var/cache/rootlessrt}
mirror=${RLRT_FRESH_MIRROR:-http://deb.debian.org/debian}
base=$cache/fresh-bookworm-base.tar
stamp=$(date +%Y%m%d-%H%M%S)
root=$work/root-$stamp
log=$work/run-$stamp.log
mkdir -p "$work" "$cache"

# --- a debootstrapped bookworm, cached as a tarball ------------------------
# debootstrap's default variant: Debian's required and important packages,
# what a minimal installation has (no git, no Rust, no compiler).
if [ "$rebuild" = 1 ] || [ ! -s "$base" ]; then
  say "debootstrap bookworm from $mirror (a few minutes; cached in $base)"
  tmpb=$work/debootstrap-$stamp
  debootstrap bookworm "$tmpb" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; rm -rf --one-file-system "$tmpb"; die "debootstrap failed"; }
  rm -rf "$tmpb"/var/cache/apt/archives/*.deb
  tar --numeric-owner --xattrs -cf "$base.tmp" -C "$tmpb" .
  mv "$base.tmp" "$base"
  rm -rf --one-file-system "$tmpb"
fi

# --- this system's files ---------------------------------------------------
say "fresh system in $root (from $base)"
mkdir -p "$root"
tar --numeric-owner --xattrs -xpf "$base" -C "$root"
case $sources in
  standard)
    # What Debian 12's installer writes.
    cat >"$root/etc/apt/sources.list" <<'EOF'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://security.debian.org/debian-security bookworm-security main
EOF
    ;;
  main) echo "deb http://deb.debian.org/debian bookworm main" >"$root/etc/apt/sources.list" ;;
esac
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The local network's own certificate authorities (here, an egress proxy that
# re-signs TLS): any machine on this network needs them to reach crates.io.
# update-ca-certificates picks them up when apt installs ca-certificates.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
echo rlrt-fresh >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\trlrt-fresh\n' >"$root/etc/hosts"

# The repository to clone: a bare copy of the checkout's committed HEAD,
# where the fresh system can reach it (it has no access to this host's files).
commit=$(git -C "$repo" rev-parse HEAD)
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
  say "warning: uncommitted changes in $repo are NOT in the check (it clones $commit)"
fi
git clone -q --bare --no-local "$repo" "$root/srv/rootlessrt.git"
git -C "$root/srv/rootlessrt.git" branch -q -f fresh-check "$commit"
git -C "$root/srv/rootlessrt.git" symbolic-ref HEAD refs/heads/fresh-check
url=/srv/rootlessrt.git

# The README's commands, as written in its first shell block after "## The
# two commands" (comments dropped), each timed; only the placeholder of this
# repository's URL is replaced.
readme_text=$(git -C "$repo" show "$commit:README.md")
placeholder="<this repository's URL>"
mapfile -t cmds < <(awk '/^## The two commands/ { f = 1 } f && /^```/ { if (b) exit; b = 1; next } f && b' <<<"$readme_text" |
  sed 's/ *#.*$//; /^ *$/d')
[ ${#cmds[@]} -gt 0 ] || die "README.md: no shell block after '## The two commands'"
printf '%s\n' "${cmds[@]}" | grep -qF "git clone $placeholder" || die "README.md: no 'git clone $placeholder' line"
printf '%s\n' "${cmds[@]}" | grep -qx 'hack/demo.sh' || die "README.md: no 'hack/demo.sh' line"
printf '%s\n' "${cmds[@]}" | grep -qx 'hack/test.sh' || die "README.md: no 'hack/test.sh' line"
cmds=("${cmds[@]//"$placeholder"/$url}")
if [ -n "$run" ]; then
  # everything up to the clone, then CMD
  mapfile -t cmds < <(printf '%s\n' "${cmds[@]}" | grep -v '^hack/')
  cmds+=("$run")
fi
{
  echo 'set -u'
  echo 'cd /root'
  echo 'fresh_rc=0'
  for c in "${cmds[@]}"; do
    # the command's text is printed, never expanded: %q quotes it
    printf 'echo; printf "%%s\\n" %q; t0=$SECONDS\n' "### fresh: \$ $c"
    printf '%s\nrc=$?\n' "$c"
    printf 'printf "### fresh: rc=%%s in %%ss: %%s\\n" "$rc" "$((SECONDS - t0))" %q | tee -a /root/fresh-times\n' "$c"
    echo '[ "$rc" = 0 ] || { fresh_rc=$rc; exit $rc; }'
  done
  echo 'exit $fresh_rc'
} >"$root/root/fresh-check.sh"

# --- enter it ---------------------------------------------------------------
# Runs as PID 1 of a new PID namespace, in a private mount namespace: the
# host's bash sets up the mounts, pivot_root makes the fresh tree the root
# (a chrooted process may not create user namespaces), then the fresh
# system's own bash runs the commands.
enter() {
  set -eu
  r=$1
  hostname rlrt-fresh
  mount --bind "$r" "$r"
  mount -t proc -o nosuid,nodev,noexec proc "$r/proc"
  mount --rbind /sys "$r/sys"
  mount -t tmpfs -o mode=0755,nosuid tmpfs "$r/dev"
  for n in null zero full random urandom tty fuse net/tun; do
    [ -e "/dev/$n" ] || continue
    mkdir -p "$(dirname "$r/dev/$n")"
    touch "$r/dev/$n"
    mount --bind "/dev/$n" "$r/dev/$n"
  done
  mkdir -p "$r/dev/pts" "$r/dev/shm" "$r/dev/mqueue"
  mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec devpts "$r/dev/pts"
  ln -s pts/ptmx "$r/dev/ptmx"
  mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$r/dev/shm"
  mount -t mqueue -o nosuid,nodev,noexec mqueue "$r/dev/mqueue"
  ln -s /proc/self/fd "$r/dev/fd"
  ln -s /proc/self/fd/0 "$r/dev/stdin"; ln -s /proc/self/fd/1 "$r/dev/stdout"; ln -s /proc/self/fd/2 "$r/dev/stderr"
  mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$r/run"
  mkdir -m 1777 "$r/run/lock"
  mkdir -p "$r/.old-root"
  cd "$r"
  pivot_root . .old-root
  cd /
  umount -l /.old-root
  rmdir /.old-root
  exec env -i HOME=/root USER=root LOGNAME=root SHELL=/bin/bash TERM="${TERM:-dumb}" LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/bash -l /root/fresh-check.sh
}

cgroups() { find /sys/fs/cgroup -mindepth 1 -maxdepth 4 -type d 2>/dev/null | sort; }
cgroups >"$work/cgroups-before-$stamp"
mounts_before=$(wc -l </proc/self/mountinfo)

say "entering it (log: $log); the commands:"
printf '    %s\n' "${cmds[@]}" >&2
t_all=$SECONDS
set +e
unshare --mount --propagation private --pid --fork --kill-child --uts --ipc \
  bash -c "$(declare -f enter); enter \"\$1\"" enter "$root" </dev/null 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
say "left the fresh system after $((SECONDS - t_all))s, rc $rc"

# --- nothing left behind on the host ---------------------------------------
leftover=0
if grep -qF " $root" /proc/self/mountinfo; then
  say "LEFT MOUNTED: $(grep -F " $root" /proc/self/mountinfo | awk '{print $5}' | tr '\n' ' ')"; leftover=1
fi
say "host mounts: $mounts_before before, $(wc -l </proc/self/mountinfo) after"
for p in /proc/[0-9]*; do
  r=$(readlink "$p/root" 2>/dev/null) || continue
  case $r in "$root"*) say "LEFT RUNNING: ${p#/proc/} $(tr '\0' ' ' <"$p/cmdline")"; leftover=1 ;; esac
done
# New cgroups: informational, as the host's other users make theirs too.
new_cg=$(cgroups | comm -13 "$work/cgroups-before-$stamp" -)
rm -f "$work/cgroups-before-$stamp"
[ -z "$new_cg" ] || say "cgroups that appeared on the host during the run (anyone's): $(echo "$new_cg" | tr '\n' ' ')"
[ "$leftover" = 0 ] && say "nothing of the fresh system left mounted or running"

if [ -f "$root/root/fresh-times" ]; then
  say "times:"; sed 's/^### fresh: /    /' "$root/root/fresh-times" >&2
  cp "$root/root/fresh-times" "$work/times-$stamp"
fi
if [ "$keep" = 1 ]; then
  say "kept $root"
elif [ "$rc" != 0 ]; then
  # What the failed command left (a test's kept directory, a build log) is
  # in there: keep it, as the test harness keeps a failed test's directory.
  say "kept $root for inspection (a command failed; rm -rf --one-file-system it when done)"
else
  rm -rf --one-file-system "$root"
fi
[ "$rc" = 0 ] && [ "$leftover" = 0 ]
