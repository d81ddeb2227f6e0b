# shellcheck shell=bash
# Finding (or installing) a Rust toolchain new enough for the workspace.
# Sourced by hack/demo.sh and hack/test.sh; not run on its own.
#
# The minimum is the workspace's `rust-version` (Cargo.toml); nothing here
# hard-codes a version. Order of preference:
#   1. a cargo on PATH, in ~/.cargo/bin, or in the sudo user's ~/.cargo/bin
#      (rustup), whose cargo and rustc are both new enough;
#   2. Debian's cargo-web/rustc-web when apt's candidate is new enough (as
#      root); bookworm's main archive carries an older one than the security
#      archive, so a missing bookworm-security source is added first;
#   3. otherwise stop at once with rustup's one-liner.
# On success `tc_select` puts the chosen toolchain first in PATH and sets
# TC_CARGO (its cargo), TC_KIND (rustup | debian | other) and TC_VERSION.

tc_repo=${tc_repo:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

# The workspace's rust-version, e.g. 1.88.
tc_msrv() {
  sed -n '/^\[workspace.package\]/,/^\[/s/^rust-version *= *"\([0-9.]*\)".*/\1/p' \
    "$tc_repo/Cargo.toml" | head -n 1
}

# tc_ge A B: version A >= version B.
tc_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$2" ]; }

# Version of a rust tool ("cargo 1.96.0 (..)" -> 1.96.0), empty on failure.
tc_tool_version() { "$1" --version 2>/dev/null | awk 'NR == 1 { sub(/-.*/, "", $2); print $2 }'; }

# tc_usable DIR: DIR/cargo and DIR/rustc (or the rustc on PATH) are new enough.
tc_usable() {
  local dir=$1 cv rv rustc
  [ -x "$dir/cargo" ] || return 1
  rustc=$dir/rustc
  [ -x "$rustc" ] || rustc=$(command -v rustc) || return 1
  cv=$(tc_tool_version "$dir/cargo") && rv=$(tc_tool_version "$rustc") || return 1
  [ -n "$cv" ] && [ -n "$rv" ] && tc_ge "$cv" "$TC_MSRV" && tc_ge "$rv" "$TC_MSRV"
}

# Candidates: "DIR RUSTUP_HOME" lines (RUSTUP_HOME empty: the default).
tc_candidates() {
  local c uhome
  c=$(command -v cargo 2>/dev/null) && echo "$(dirname "$(readlink -f "$c")") "
  # rustup's proxies resolve through symlinks to rustup itself: keep the
  # PATH entry's directory too.
  [ -n "$c" ] && echo "$(dirname "$c") "
  echo "$HOME/.cargo/bin "
  if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
    uhome=$(getent passwd "$SUDO_USER" | cut -d: -f6)
    # The user's rustup proxies need the user's toolchains, read-only; the
    # registry cache (CARGO_HOME) stays root's, so nothing root-owned lands
    # in the user's home.
    [ -n "$uhome" ] && echo "$uhome/.cargo/bin $uhome/.rustup"
  fi
  echo "/usr/bin "
}

# Try the toolchains already here. Returns 1 when none is new enough; then
# TC_SEEN lists what was found and why it was refused.
tc_find() {
  local dir rh v
  TC_SEEN=
  while read -r dir rh; do
    [ -x "$dir/cargo" ] || continue
    if RUSTUP_HOME=${rh:-${RUSTUP_HOME:-$HOME/.rustup}} tc_usable "$dir"; then
      [ -n "$rh" ] && export RUSTUP_HOME=$rh
      tc_use "$dir"
      return 0
    fi
    v=$(RUSTUP_HOME=${rh:-${RUSTUP_HOME:-$HOME/.rustup}} tc_tool_version "$dir/rustc")
    TC_SEEN+="${TC_SEEN:+, }$dir/cargo (rustc ${v:-unknown})"
  done < <(tc_candidates | awk '!seen[$1]++')
  return 1
}

tc_use() {
  [ "$(command -v cargo 2>/dev/null)" = "$1/cargo" ] || export PATH="$1:$PATH"
  TC_CARGO=$1/cargo
  TC_VERSION=$(tc_tool_version "$TC_CARGO")
  if [ -e "$1/rustup" ]; then TC_KIND=rustup
  elif dpkg-query -W -f='${Status}' cargo-web 2>/dev/null | grep -q 'ok installed' &&
       [ "$1" = /usr/bin ]; then TC_KIND=debian
  else TC_KIND=other; fi
}

tc_rustup_hint() {
  cat <<EOF
Install a current Rust with rustup, then run $0 again:
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y && . "\$HOME/.cargo/env"
EOF
}

# Candidate version of an apt package, without the Debian revision.
tc_apt_candidate() {
  apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { v = $2; sub(/\+.*/, "", v); sub(/-.*/, "", v); print v }'
}

# Whether apt's sources include the security archive for this release.
tc_has_security() {
  apt-cache policy 2>/dev/null | grep -q " ${VERSION_CODENAME:-bookworm}-security/"
}

# Debian ships the security archive's address in a deb822 file; add one for
# the release we are on, with the standard address.
tc_add_security() {
  local f=/etc/apt/sources.list.d/debian-security.sources
  cat >"$f" <<EOF
Types: deb
URIs: http://security.debian.org/debian-security
Suites: ${VERSION_CODENAME}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  echo "$f"
}

# tc_apt_get ARGS...: apt-get with its output indented (a function so that
# callers can show it their own way).
tc_apt_get() {
  DEBIAN_FRONTEND=noninteractive apt-get -q "$@" </dev/null 2>&1 | sed -u 's/^/    | /'
  return "${PIPESTATUS[0]}"
}

# tc_debian EXTRA_PACKAGES...: as root on Debian, install cargo-web and
# rustc-web (and EXTRA_PACKAGES) when the candidate is new enough, adding the
# security archive if that is what it takes. Assumes `apt-get update` ran.
# Returns 1 with TC_WHY set when it cannot.
tc_debian() {
  local cand f
  TC_WHY=
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null || [ "${ID:-}" != debian ]; then
    TC_WHY="not root on Debian: Debian's cargo-web cannot be installed here"
    return 1
  fi
  cand=$(tc_apt_candidate cargo-web)
  if [ -n "$cand" ] && ! tc_ge "$cand" "$TC_MSRV" && ! tc_has_security; then
    f=$(tc_add_security)
    echo "    Debian's cargo-web in ${VERSION_CODENAME} main is $cand (< $TC_MSRV); the newer one is in the"
    echo "    security archive, missing from apt's sources: added $f and ran apt-get update"
    tc_apt_get update >/dev/null || { TC_WHY="apt-get update failed after adding $f"; return 1; }
    cand=$(tc_apt_candidate cargo-web)
  fi
  if [ -z "$cand" ]; then
    TC_WHY="apt has no cargo-web package"
    return 1
  fi
  if ! tc_ge "$cand" "$TC_MSRV"; then
    TC_WHY="Debian's cargo-web is $cand, older than $TC_MSRV"
    return 1
  fi
  echo "    Debian's cargo-web $cand: apt-get install -y cargo-web rustc-web${*:+ $*}"
  tc_apt_get install -y --no-install-recommends cargo-web rustc-web "$@" ||
    { TC_WHY="apt-get install cargo-web rustc-web $* failed"; return 1; }
  tc_usable /usr/bin || { TC_WHY="cargo-web installed, but /usr/bin/cargo is not >= $TC_MSRV"; return 1; }
  tc_use /usr/bin
}

TC_MSRV=$(tc_msrv)
[ -n "$TC_MSRV" ] || { echo "toolchain.sh: no rust-version in $tc_repo/Cargo.toml" >&2; exit 1; }
