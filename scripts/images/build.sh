#!/usr/bin/env bash
# Builds the images of the local e2e cluster without a container daemon and
# without a registry, with Debian's buildah and mmdebstrap:
#
#   docker.io/library/debian:12       the builder stages' base: Debian 12 minbase
#   docker.io/library/debian:12-slim  the runtime stages' base: the same without
#                                     documentation, man pages and locales
#       Both are made here from Debian packages (mmdebstrap, the bookworm apt
#       sources of this host), never pulled: every build runs with --pull=never.
#   localhost/pricing-engine:e2e      engine/Dockerfile, context: the repository
#   localhost/pricing-operator:e2e    operator/Dockerfile, context: the repository
#   localhost/pricing-e2e/pause:3.10  the pod sandbox: scripts/images/pause.c,
#                                     static, FROM scratch, USER 65535
#
# and saves each of the last three as a docker archive (`docker save` format)
# that containerd (2.x) imports with
#   ctr -n k8s.io images import ARCHIVE
# under the name a pod spec uses: docker.io/library/pricing-engine:e2e,
# docker.io/library/pricing-operator:e2e and docker.io/pricing-e2e/pause:3.10
# (containerd's sandbox image setting takes the last one).
#
#   scripts/images/build.sh [engine] [operator] [pause]    (default: all three)
#
# Prints the archives' paths on stdout, one a line, last; logs go to stderr.
#
# Everything is kept under ${PRICING_CACHE:-~/.cache/pricing-engine}/images/,
# so a fresh clone on the same machine reuses it:
#   base/         the base root file systems (tarballs), keyed by the recipe and
#                 the sha256 of the resolved package list (name and version of
#                 every package), so they are rebuilt only when Debian publishes
#                 a new version of a base package;
#   apt/          the apt lists that package list is resolved from;
#   storage/      buildah's image store (its graphroot: the --layers cache), run
#                 through containers/storage.conf there, not /var/lib/containers;
#                 what no tag leads to is pruned at the end of each run (the
#                 builder stages are tagged NAME-build to stay cached);
#   *.tar         the archives, each rewritten only when its image changed;
#   pause.name    the pause image's name in its archive, for containerd's
#                 sandbox image setting.
# An unchanged Dockerfile, set of copied files and base image are a complete
# cache hit of buildah --layers, so a rebuild without change only checks.
# Each new image is smoke-tested before it is saved: its binary runs --help as
# the image's user, and ldd resolves every library in the runtime image.
#
# Needs root (mmdebstrap's root mode, buildah's chroot isolation) and the
# Debian packages buildah, mmdebstrap and gcc/libc6-dev. Builder stages reach
# Debian's package mirrors over the host network (apt, and the operator's
# scripts/static-deps/build.sh); nothing listens on any address.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${PRICING_CACHE:-$HOME/.cache/pricing-engine}
dir="$cache/images"
suite=bookworm
arch=$(dpkg --print-architecture)
# The time stamp of everything mmdebstrap generates in the base images (the
# bookworm release), so one package list gives byte-identical tarballs.
export SOURCE_DATE_EPOCH=1686355200

start=$SECONDS
log() { echo "images: [$((SECONDS - start)) s] $*" >&2; }
die() { log "error: $*"; exit 1; }

want_engine=0 want_operator=0 want_pause=0
[ $# -eq 0 ] && set -- engine operator pause
for a in "$@"; do
  case $a in
    engine) want_engine=1 ;;
    operator) want_operator=1 ;;
    pause) want_pause=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 0 ;;
    *) die "unknown image '$a' (engine, operator, pause)" ;;
  esac
done
for tool in buildah mmdebstrap gcc python3 flock; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install buildah mmdebstrap gcc libc6-dev)"
done

mkdir -p "$dir/base" "$dir/apt" "$dir/containers"
exec 9>"$dir/.lock"
flock -n 9 || { log "another build holds $dir/.lock; waiting"; flock 9; }

# --- buildah's configuration: its own store, short names resolved locally ---
# The run root holds locks and mount state only; it belongs on a file system
# that a reboot empties. PRICING_STORAGE_DRIVER=vfs is the way out where the
# cache directory cannot hold overlay layers (it is itself on overlayfs).
runroot=${XDG_RUNTIME_DIR:-/tmp}/pricing-engine-containers-$(id -u)
write_if_changed() {  # FILE: stdin into FILE unless FILE already holds it
  local tmp; tmp=$(mktemp "$1.XXXXXX")
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else chmod 644 "$tmp"; mv "$tmp" "$1"; fi
}
write_if_changed "$dir/containers/storage.conf" <<EOF
# Written by scripts/images/build.sh.
[storage]
driver = "${PRICING_STORAGE_DRIVER:-overlay}"
graphroot = "$dir/storage"
runroot = "$runroot"
EOF
write_if_changed "$dir/containers/registries.conf" <<EOF
# Written by scripts/images/build.sh. Builds never pull (--pull=never): a short
# name such as debian:12 resolves to docker.io/library/debian:12 in the store.
unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"
EOF
write_if_changed "$dir/containers/policy.json" <<EOF
{"default": [{"type": "insecureAcceptAnything"}]}
EOF
export CONTAINERS_STORAGE_CONF="$dir/containers/storage.conf"
export CONTAINERS_REGISTRIES_CONF="$dir/containers/registries.conf"
export BUILDAH_ISOLATION=chroot
policy=(--signature-policy "$dir/containers/policy.json")
# The store is this script's alone: a working container left in it is one a
# killed run left behind, and would keep its image from being pruned.
buildah rm --all >/dev/null

# --- the base images --------------------------------------------------------

# debian_sources: prints the deb822 apt sources of the base images: this host's
# Debian archive entries for bookworm (bookworm, -updates, -security as
# configured), or deb.debian.org's when the host has none. Signed by the
# keyring the images hold (debian-archive-keyring).
debian_sources() {
  python3 - "$suite" <<'PY'
import glob, re, sys
suite = sys.argv[1]
keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
suite_re = re.compile(r"^%s(-updates|-security)?$" % re.escape(suite))
uri_re = re.compile(r"^https?://[^ ]+/debian(-security)?/?$")
entries = []  # (uri, suite, components)

def add(uris, suites, comps):
    for u in uris:
        if not uri_re.match(u):
            continue
        for s in suites:
            if suite_re.match(s) and (u, s) not in [(e[0], e[1]) for e in entries]:
                entries.append((u, s, comps or ["main"]))

for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in re.split(r"\n\s*\n", open(path).read()):
        f = {}
        key = None
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0] in " \t" and key:
                f[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            f[key] = value.strip()
        if f.get("enabled", "yes").lower() == "no" or "deb" not in f.get("types", "").split():
            continue
        add(f.get("uris", "").split(), f.get("suites", "").split(), f.get("components", "").split())
for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        line = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
        if len(line) >= 3 and line[0] == "deb":
            add([line[1]], [line[2]], line[3:])
if not entries:
    entries = [("http://deb.debian.org/debian", suite, ["main"]),
               ("http://deb.debian.org/debian", suite + "-updates", ["main"]),
               ("http://deb.debian.org/debian-security", suite + "-security", ["main"])]
for uri, s, comps in entries:
    print("Types: deb\nURIs: %s\nSuites: %s\nComponents: %s\nSigned-By: %s\n"
          % (uri, s, " ".join(comps), keyring))
PY
}

# resolve_packages SOURCES: prints "name version" of every package of the
# minbase variant (Essential: yes, Priority: required, apt, and the merged-usr
# hook's usr-is-merged) as apt resolves them from SOURCES now: mmdebstrap's
# selection, without installing anything. The apt lists persist in $dir/apt,
# so an unchanged archive costs a few kB.
resolve_packages() {
  local sources=$1 a="$dir/apt"
  mkdir -p "$a/etc/apt/sources.list.d" "$a/etc/apt/apt.conf.d" "$a/etc/apt/preferences.d" \
    "$a/var/lib/apt/lists/partial" "$a/var/cache/apt/archives/partial" "$a/var/lib/dpkg"
  : >"$a/var/lib/dpkg/status"
  cp "$sources" "$a/etc/apt/sources.list.d/base.sources"
  cat >"$a/apt.conf" <<EOF
Dir "$a/";
Dir::State::status "$a/var/lib/dpkg/status";
Dir::Etc::SourceList "$a/etc/apt/sources.list";
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
APT::Install-Recommends "false";
APT::Sandbox::User "root";
Acquire::Languages "none";
Acquire::GzipIndexes "true";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  APT_CONFIG="$a/apt.conf" apt-get -q update >&2 || die "apt-get update of the base's sources failed"
  APT_CONFIG="$a/apt.conf" apt-get -s install \
    "?narrow(?or(?archive(^$suite\$),?codename(^$suite\$)),?architecture($arch),?or(?essential,?priority(required)))" apt usr-is-merged |
    awk '$1 == "Inst" {v = $3; sub(/^\(/, "", v); print $2, v}' | sort
}

# base_opts FLAVOUR: mmdebstrap's options for debian:FLAVOUR (12 or 12-slim),
# one a line: minbase (Priority: required, apt) with /usr merged by symlinks and
# usr-is-merged, as debootstrap and Docker's images do (not the usrmerge
# package, which brings perl). slim leaves out what Docker's debian:12-slim
# leaves out, by dpkg path exclusions that stay in the image, so the packages a
# Dockerfile installs later are slimmed too. (mmdebstrap applies them to the
# essential packages it unpacks itself only when written "option=value".)
base_opts() {
  # shellcheck disable=SC2016 # "$1" is the hook's argument: the chroot
  printf '%s\n' --mode=root --variant=minbase --format=tar \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --aptopt='Acquire::Languages "none"' \
    --aptopt='Acquire::GzipIndexes "true"' \
    --customize-hook='rm -f "$1/etc/hostname" "$1/etc/resolv.conf"'
  if [ "$1" = 12-slim ]; then
    printf -- '--dpkgopt=%s\n' 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' \
      'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/groff/*' 'path-exclude=/usr/share/info/*' \
      'path-exclude=/usr/share/lintian/*' 'path-exclude=/usr/share/linda/*' 'path-exclude=/usr/share/locale/*'
  fi
}

# make_base_tar FLAVOUR SOURCES OUT: the root file system of debian:FLAVOUR as
# a tarball, without device nodes (as Docker's images: the runtime mounts /dev)
# and with Docker's docker-clean apt configuration: the downloaded packages and
# apt's caches are deleted after each run, so a RUN apt-get install layer does
# not keep them. It is added to the tarball, not in a hook: apt commands that
# mmdebstrap runs outside the chroot read the chroot's configuration, and would
# run its Post-Invoke commands on the host.
# Reproducible: the same packages give the same bytes (SOURCE_DATE_EPOCH), and
# import_base turns the same bytes into the same image ID.
make_base_tar() {
  local flavour=$1 sources=$2 out=$3 extra
  local -a opts
  local clean='rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true'
  mapfile -t opts < <(base_opts "$flavour")
  mmdebstrap "${opts[@]}" "$suite" "$out" "$sources" >&2
  tar --delete --wildcards -f "$out" './dev/?*'
  extra=$(mktemp -d)
  mkdir -p "$extra/etc/apt/apt.conf.d"
  printf '%s\n' "DPkg::Post-Invoke { \"$clean\"; };" "APT::Update::Post-Invoke { \"$clean\"; };" \
    'Dir::Cache::pkgcache "";' 'Dir::Cache::srcpkgcache "";' >"$extra/etc/apt/apt.conf.d/docker-clean"
  tar --append -f "$out" -C "$extra" --owner=0 --group=0 --numeric-owner --mode=644 \
    --mtime="@$SOURCE_DATE_EPOCH" ./etc/apt/apt.conf.d/docker-clean
  rm -rf "$extra"
}

# import_base FLAVOUR TAR: the tarball as docker.io/library/debian:FLAVOUR,
# unless that tag already is the image of this tarball (recorded in TAR.id).
import_base() {
  local flavour=$1 tar=$2 name="docker.io/library/debian:$1" id ctr
  id=$(buildah images --noheading --no-trunc --format '{{.ID}}' "$name" 2>/dev/null | head -n 1 || true)
  if [ -n "$id" ] && [ "$id" = "$(cat "$tar.id" 2>/dev/null)" ]; then return 0; fi
  log "importing $(basename "$tar") as $name"
  ctr=$(buildah from --pull=never --quiet scratch)
  buildah add --quiet "$ctr" "$tar" / >/dev/null
  buildah config --os linux --arch "$arch" --cmd '["bash"]' \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
  buildah commit --quiet --rm --format oci --timestamp "$SOURCE_DATE_EPOCH" "$ctr" "$name" >/dev/null
  buildah images --noheading --no-trunc --format '{{.ID}}' "$name" | head -n 1 >"$tar.id"
}

sources="$dir/base/sources"
debian_sources | write_if_changed "$sources"
log "resolving the base package list ($suite, $arch)"
resolve_packages "$sources" >"$dir/base/packages.tmp"
[ -s "$dir/base/packages.tmp" ] || die "the base package list is empty"
mv "$dir/base/packages.tmp" "$dir/base/packages"
keep=()
for flavour in 12 12-slim; do
  # The key: the recipe (make_base_tar, the options, mmdebstrap's version),
  # the sources and the package list.
  key=$( { declare -f make_base_tar; base_opts "$flavour"; mmdebstrap --version 2>&1
           echo "$suite $arch $SOURCE_DATE_EPOCH"; cat "$sources" "$dir/base/packages"; } |
         sha256sum | cut -c1-16)
  tar="$dir/base/debian-$flavour-$key.tar"
  keep+=(! -name "$(basename "$tar")" ! -name "$(basename "$tar").id")
  if [ ! -f "$tar" ]; then
    log "making debian:$flavour ($key, $(wc -l <"$dir/base/packages") packages) with mmdebstrap"
    t0=$SECONDS
    rm -f "$tar.tmp"
    make_base_tar "$flavour" "$sources" "$tar.tmp"
    # The key holds only if mmdebstrap installed exactly the resolved list.
    if ! tar -xOf "$tar.tmp" ./var/lib/dpkg/status |
         awk '/^Package:/ {p = $2} /^Version:/ {print p, $2}' | sort |
         diff - "$dir/base/packages" >&2; then
      die "debian:$flavour does not hold the resolved package list (> resolved, < installed)"
    fi
    mv "$tar.tmp" "$tar"
    log "made debian:$flavour in $((SECONDS - t0)) s ($(du -h "$tar" | cut -f1))"
  fi
  import_base "$flavour" "$tar"
done
# Only the current base is kept.
find "$dir/base" -maxdepth 1 \( -name 'debian-12*' -o -name 'packages-*' \) "${keep[@]}" -delete

# --- the images -------------------------------------------------------------

# build NAME DOCKERFILE CONTEXT [STAGE]: buildah build with the layer cache;
# prints the image ID. STAGE, the builder stage, is tagged NAME-STAGE too: its
# last layer is no ancestor of the image, and prune_store keeps only what a
# tag leads to.
build() {
  local name=$1 dockerfile=$2 context=$3 stage=${4:-} t0=$SECONDS iid
  local -a flags=(--layers --force-rm --pull=never --isolation chroot --network host --format oci
                  "${policy[@]}" -f "$dockerfile")
  iid=$(mktemp "$dir/.iid.XXXXXX")
  log "building $name from ${dockerfile#"$repo"/}"
  if ! buildah build "${flags[@]}" -t "$name" --iidfile "$iid" "$context" >&2 ||
     { [ -n "$stage" ] && ! buildah build "${flags[@]}" --target "$stage" -t "$name-$stage" "$context" >/dev/null; }; then
    rm -f "$iid"
    die "building $name failed (the build's output is above)"
  fi
  log "built $name in $((SECONDS - t0)) s"
  cat "$iid"; rm -f "$iid"
}

# smoke NAME BINARY ARGS...: runs BINARY ARGS in the image as its user, then
# ldd BINARY; fails when it does not start or a library is missing.
smoke() {
  local name=$1 bin=$2; shift 2
  local ctr out rc=0
  ctr=$(buildah from --pull=never --quiet "$name")
  if ! out=$(buildah run --isolation chroot "$ctr" -- "$bin" "$@" 2>&1); then
    printf '%s\n' "$out" >&2
    log "$name: $bin $* failed"; rc=1
  fi
  if [ "$bin" != /pause ]; then
    if ! out=$(buildah run --isolation chroot "$ctr" -- ldd "$bin" 2>&1) ||
       grep -q 'not found' <<<"$out"; then
      printf '%s\n' "$out" >&2
      log "$name: ldd $bin does not resolve every library"; rc=1
    fi
  fi
  buildah rm "$ctr" >/dev/null
  [ "$rc" = 0 ] || die "the smoke test of $name failed"
  log "$name: $bin $* runs as $(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$name")$([ "$bin" = /pause ] || echo ", ldd resolves all")"
}

# save NAME ID REF ARCHIVE: the image as a docker archive of REF, unless
# ARCHIVE already holds image ID (recorded in ARCHIVE.id).
save() {
  local name=$1 id=$2 ref=$3 archive=$4 t0=$SECONDS
  if [ -f "$archive" ] && [ "$(cat "$archive.id" 2>/dev/null)" = "$id" ]; then
    log "$(basename "$archive") is up to date"
    return 0
  fi
  rm -f "$archive.tmp" "$archive.id"
  # By ID: pushed by name, the archive would carry that name (localhost/...) too.
  buildah push --quiet "${policy[@]}" "$id" "docker-archive:$archive.tmp:$ref" >&2
  mv "$archive.tmp" "$archive"
  echo "$id" >"$archive.id"
  log "saved $ref to $archive in $((SECONDS - t0)) s ($(du -h "$archive" | cut -f1))"
}

# prune_store: removes the images no tag leads to (the layers of older
# Dockerfiles, sources or bases), leaves first, so the store does not grow with
# every change.
prune_store() {
  local id removed=1
  while [ "$removed" = 1 ]; do
    removed=0
    for id in $(buildah images --all --filter dangling=true --noheading --no-trunc --format '{{.ID}}'); do
      buildah rmi "$id" >/dev/null 2>&1 && removed=1
    done
  done
}

# image NAME DOCKERFILE CONTEXT STAGE REF ARCHIVE SMOKE...: build, smoke test
# (only an image not saved yet), save.
archives=()
image() {
  local name=$1 dockerfile=$2 context=$3 stage=$4 ref=$5 archive=$6; shift 6
  local id
  id=$(build "$name" "$dockerfile" "$context" "$stage")
  if [ "$(cat "$archive.id" 2>/dev/null)" != "$id" ] || [ ! -f "$archive" ]; then
    smoke "$name" "$@"
  fi
  save "$name" "$id" "$ref" "$archive"
  archives+=("$archive")
}

if [ "$want_engine" = 1 ]; then
  image localhost/pricing-engine:e2e "$repo/engine/Dockerfile" "$repo" build \
    docker.io/library/pricing-engine:e2e "$dir/pricing-engine-e2e.tar" \
    /usr/local/bin/pricing-engine --help
fi
if [ "$want_operator" = 1 ]; then
  image localhost/pricing-operator:e2e "$repo/operator/Dockerfile" "$repo" build \
    docker.io/library/pricing-operator:e2e "$dir/pricing-operator-e2e.tar" \
    /usr/local/bin/pricing-operator --help
fi
pause_ref=docker.io/pricing-e2e/pause:3.10
if [ "$want_pause" = 1 ]; then
  # The binary is rewritten only when it differs, with a fixed time stamp, so
  # that an unchanged pause.c is a cache hit of the COPY.
  mkdir -p "$dir/pause"
  gcc -static -Os -s -Wall -Wextra -Werror -o "$dir/pause/pause.new" "$here/pause.c"
  if cmp -s "$dir/pause/pause.new" "$dir/pause/pause"; then
    rm -f "$dir/pause/pause.new"
  else
    mv "$dir/pause/pause.new" "$dir/pause/pause"
  fi
  touch -d "@$SOURCE_DATE_EPOCH" "$dir/pause/pause"
  image localhost/pricing-e2e/pause:3.10 "$here/pause.Containerfile" "$dir/pause" "" \
    "$pause_ref" "$dir/pause-3.10.tar" /pause -v
  # The name containerd's sandbox image setting takes, next to the archives.
  echo "$pause_ref" | write_if_changed "$dir/pause.name"
fi

prune_store
log "done; the store holds $(du -sh "$dir/storage" 2>/dev/null | cut -f1)"
printf '%s\n' "${archives[@]}"
