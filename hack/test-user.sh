#!/usr/bin/env bash
# Create (once) the unprivileged user the tests run the runtime as, with NO
# /etc/subuid or /etc/subgid entry: the whole point of rootlessrt is that a user
# who cannot get subordinate IDs still gets working containers.
# Usage: hack/test-user.sh [NAME]   (default: $RLRT_TEST_USER or rlrt-test)
# Prints the user name on success.
set -euo pipefail
user=${1:-${RLRT_TEST_USER:-rlrt-test}}
[ "$(id -u)" = 0 ] || { echo "test-user.sh: must run as root" >&2; exit 1; }
if ! id -u "$user" >/dev/null 2>&1; then
  # Debian's useradd allocates a subordinate range unless told not to.
  useradd -m -s /bin/bash -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$user"
fi
for f in /etc/subuid /etc/subgid; do
  if [ -f "$f" ] && grep -q "^$user:" "$f"; then
    # A subuid range would hide exactly the case we exist for: remove it.
    sed -i "/^$user:/d" "$f"
  fi
  if [ -f "$f" ] && grep -q "^$(id -u "$user"):" "$f"; then
    sed -i "/^$(id -u "$user"):/d" "$f"
  fi
done
if grep -qs -e "^$user:" -e "^$(id -u "$user"):" /etc/subuid /etc/subgid; then
  echo "test-user.sh: $user still has a subordinate ID range" >&2; exit 1
fi
echo "$user"
