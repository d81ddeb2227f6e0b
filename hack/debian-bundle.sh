#!/usr/bin/env bash
# Turn the Debian rootfs tarball (hack/debian-rootfs.sh) into an OCI bundle,
# as an UNPRIVILEGED user, without losing ownership.
#
# Usage: hack/debian-bundle.sh [options] DIR
#
#   --tar TARBALL   the rootfs tarball (default: $RLRT_DEBIAN_TAR, else
#                   $RLRT_CACHE/debian-bookworm.tar, RLRT_CACHE=/var/cache/rootlessrt)
#   --via fakeroot  (default) unpack with
#                     rootlessrt fakeroot -- tar --same-owner --numeric-owner -xpf TAR -C DIR/rootfs
#                   Owners land in `user.rootlesscontainers` xattrs, set-id bits are
#                   kept, device nodes become placeholder files.
#   --via umoci     wrap the tarball in an OCI image layout (written by hand: one
#                   uncompressed layer, no registry) and `umoci unpack --rootless`
#                   it. umoci records owners in the same xattr.
#   --force         re-import even when DIR/rootfs is already up to date
#   --no-terminal   set process.terminal=false in config.json (for scripts)
#   --no-spec       do not (re)write config.json
#
# Then DIR/config.json comes from `rootlessrt spec --rootless` (single-ID user
# namespace -> the ID-emulation tracer is on; host network; args ["sh"]).
# Run it with e.g.  rootlessrt run --bundle DIR debian
#
# Environment: RLRT  the runtime binary (default: rootlessrt in PATH).
# The import is skipped when DIR/rootfs is complete and newer than the tarball.
# The script never refers to its own path: it may be fed on stdin (bash -s -- DIR).
# Remove a bundle with `unshare -r rm -rf DIR` (plain rm cannot
# delete inside the read-only directories of the image).
set -euo pipefail

say() { echo "debian-bundle: $*" >&2; }
die() { say "error: $*"; exit 1; }

rt=${RLRT:-rootlessrt}
tar_file=${RLRT_DEBIAN_TAR:-${RLRT_CACHE:-/var/cache/rootlessrt}/debian-bookworm.tar}
via=fakeroot
force=0
terminal=keep
spec=1
dir=
while [ $# -gt 0 ]; do
  case "$1" in
    --tar) tar_file=${2:?--tar needs a path}; shift ;;
    --tar=*) tar_file=${1#--tar=} ;;
    --via) via=${2:?--via needs fakeroot or umoci}; shift ;;
    --via=*) via=${1#--via=} ;;
    --force) force=1 ;;
    --no-terminal) terminal=false ;;
    --no-spec) spec=0 ;;
    -h|--help) sed -n '2,30p' "${BASH_SOURCE[0]:-/dev/null}" 2>/dev/null || true; exit 0 ;;
    --) shift; dir=${1:-}; break ;;
    -*) die "unknown option $1" ;;
    *) [ -z "$dir" ] || die "only one DIR allowed"; dir=$1 ;;
  esac
  shift
done
[ -n "$dir" ] || die "usage: debian-bundle.sh [--tar TAR] [--via fakeroot|umoci] [--force] [--no-terminal] DIR"
case "$via" in fakeroot|umoci) ;; *) die "--via must be fakeroot or umoci" ;; esac
[ -r "$tar_file" ] || die "cannot read $tar_file (build it as root with hack/debian-rootfs.sh)"
command -v "$rt" >/dev/null 2>&1 || die "$rt not found (set RLRT=/path/to/rootlessrt)"
rt=$(command -v "$rt")

dir=$(mkdir -p "$dir" && cd "$dir" && pwd)
rootfs=$dir/rootfs
marker=$dir/.rlrt-import

# Delete a tree the user owns but that contains read-only directories.
remove_tree() {
  [ -e "$1" ] || return 0
  if [ "$(id -u)" = 0 ]; then rm -rf --one-file-system "$1"; return; fi
  # Root of a plain user namespace may enter the image's 0555 directories;
  # no tracer needed (faster than `rootlessrt fakeroot -- rm -rf`).
  unshare -r rm -rf --one-file-system "$1" 2>/dev/null ||
    "$rt" fakeroot -- rm -rf --one-file-system "$1" 2>/dev/null ||
    { chmod -R u+rwX "$1" 2>/dev/null || true; rm -rf --one-file-system "$1"; }
}

count_placeholders() {
  # Device nodes of the tarball that are now plain files in the rootfs.
  local n=0 p
  while read -r p; do
    [ -f "$rootfs/$p" ] && n=$((n + 1))
  done < <(tar -tvf "$tar_file" | awk '$1 ~ /^[cb]/ { print $NF }')
  echo "$n"
}

if [ "$force" = 0 ] && [ -f "$marker" ] && [ "$marker" -nt "$tar_file" ] &&
   [ "$(cat "$marker")" = "$via" ] && [ -d "$rootfs/usr" ]; then
  say "rootfs up to date: $rootfs (imported via $via; --force re-imports)"
else
  [ -e "$rootfs" ] && say "removing old $rootfs"
  rm -f "$marker"
  remove_tree "$rootfs"
  start=$(date +%s)
  size=$(du -m "$tar_file" | cut -f1)
  case "$via" in
  fakeroot)
    mkdir -p "$rootfs"
    if [ "$(id -u)" = 0 ]; then
      say "running as root: plain tar keeps real owners (no emulation needed)"
      tar --same-owner --numeric-owner -xpf "$tar_file" -C "$rootfs"
    else
      say "unpacking $tar_file (${size} MB) under the ID-emulation tracer:"
      say "  $rt fakeroot -- tar --same-owner --numeric-owner -xpf $tar_file -C $rootfs"
      # Progress every ~16 MB (tar records are 10 KiB): a self-overwriting
      # line on a terminal, one line per ~48 MB otherwise.
      if [ -t 2 ]; then
        progress=(--checkpoint=1600 "--checkpoint-action=ttyout=debian-bundle:   %{r}T%*\r")
      else
        progress=(--checkpoint=4800 "--checkpoint-action=echo=unpacked %{r}T")
      fi
      "$rt" fakeroot -- tar --same-owner --numeric-owner -xpf "$tar_file" -C "$rootfs" \
        "${progress[@]}" || die "unpacking failed"
      if [ -t 2 ]; then printf '\033[K' >&2; fi
    fi
    ;;
  umoci)
    command -v umoci >/dev/null || die "umoci not found (apt-get install umoci)"
    command -v sha256sum >/dev/null || die "sha256sum not found"
    layout=$dir.oci-layout
    remove_tree "$layout"
    say "writing an OCI image layout around the tarball: $layout"
    mkdir -p "$layout/blobs/sha256"
    # The layer is the tarball itself (media type ...layer.v1.tar, uncompressed),
    # so its digest is also its diff_id.
    layer=$(sha256sum "$tar_file" | cut -d' ' -f1)
    layer_size=$(stat -c %s "$tar_file")
    cp "$tar_file" "$layout/blobs/sha256/$layer"
    arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
    blob() { # write stdin as a blob, print "digest size"
      local tmp=$layout/blob.tmp d
      cat >"$tmp"
      d=$(sha256sum "$tmp" | cut -d' ' -f1)
      mv "$tmp" "$layout/blobs/sha256/$d"
      echo "$d $(stat -c %s "$layout/blobs/sha256/$d")"
    }
    read -r cfg cfg_size < <(printf '%s' \
      '{"architecture":"'"$arch"'","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["bash"]},' \
      '"rootfs":{"type":"layers","diff_ids":["sha256:'"$layer"'"]},' \
      '"history":[{"created_by":"hack/debian-rootfs.sh (debootstrap --variant=minbase)"}]}' | blob)
    read -r man man_size < <(printf '%s' \
      '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",' \
      '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'"$cfg"'","size":'"$cfg_size"'},' \
      '"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:'"$layer"'","size":'"$layer_size"'}]}' | blob)
    printf '%s' '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
    printf '%s' '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",' \
      '"digest":"sha256:'"$man"'","size":'"$man_size"',"annotations":{"org.opencontainers.image.ref.name":"bookworm"}}]}' \
      >"$layout/index.json"
    say "umoci unpack --rootless --image $layout:bookworm (${size} MB layer)"
    # umoci wants to create the bundle directory itself.
    keep=$(mktemp -d "$dir.keep.XXXXXX")
    find "$dir" -mindepth 1 -maxdepth 1 -exec mv -t "$keep" {} +
    rmdir "$dir"
    if ! umoci unpack --rootless --image "$layout:bookworm" "$dir" >&2; then
      mkdir -p "$dir"; find "$keep" -mindepth 1 -maxdepth 1 -exec mv -t "$dir" {} +; rmdir "$keep"
      remove_tree "$layout"
      die "umoci unpack failed"
    fi
    rm -rf "$keep"   # an old config.json / state only; the rootfs was removed above
    [ "$spec" = 1 ] && mv "$dir/config.json" "$dir/config.umoci.json"
    remove_tree "$layout"
    ;;
  esac
  say "unpacked in $(( $(date +%s) - start ))s; $(count_placeholders) device nodes are placeholder files"
  echo "$via" >"$marker"
fi

if [ "$spec" = 1 ]; then
  rm -f "$dir/config.json"
  (cd "$dir" && "$rt" spec --rootless) || die "$rt spec --rootless failed"
  if [ "$terminal" = false ]; then
    if command -v jq >/dev/null; then
      jq '.process.terminal = false' "$dir/config.json" >"$dir/config.json.tmp"
      mv "$dir/config.json.tmp" "$dir/config.json"
    else
      sed -i 's/"terminal": *true/"terminal": false/' "$dir/config.json"
    fi
    grep -q '"terminal": *false' "$dir/config.json" || die "could not set terminal=false in $dir/config.json"
  fi
  say "bundle ready: $dir (config.json from '$rt spec --rootless')"
fi
echo "$dir"
