#!/usr/bin/env bash
# Builds (or reuses) static archives of the C++ libraries the operator links that
# Debian 12 ships only as shared libraries: cpprestsdk, prometheus-cpp (core) and
# date-tz. Each comes from its Debian source package, the same version and the
# same Debian patches as the shared library install-deps.sh installs, verified
# against the SHA-256 pinned in versions.env. Built once per version into
# ${PRICING_CACHE:-~/.cache/pricing-engine}/static-deps-$STATIC_DEPS_KEY, so a
# fresh clone on the same machine reuses it. Prints the prefix on the last line
# of stdout.
#
# Why: a statically linked operator maps only the code it uses. With the shared
# libraries, 12.8 MiB of its resident size was mapped library code (README,
# "Memory").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache=${PRICING_CACHE:-$HOME/.cache/pricing-engine}
prefix="$cache/static-deps-$STATIC_DEPS_KEY"
pool=${DEBIAN_POOL:-http://deb.debian.org/debian/pool/main}

log() { echo "static-deps: $*" >&2; }

if [ -f "$prefix/.complete" ]; then
  echo "$prefix"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/static-deps.XXXXXX")
trap 'rm -rf "$work"' EXIT
rm -rf "$prefix.tmp"
mkdir -p "$prefix.tmp"

# fetch FILE SHA256: downloads FILE from the Debian pool into $work, checked.
fetch() {
  local path=$1 sum=$2 file
  file=$(basename "$path")
  curl -fsS --retry 3 -m 300 -o "$work/$file" "$pool/$path"
  if ! echo "$sum  $work/$file" | sha256sum -c --quiet - >/dev/null 2>&1; then
    log "checksum mismatch for $file (expected $sum)"
    exit 1
  fi
  echo "$work/$file"
}

# unpack NAME ORIG DEBIAN: the upstream tarball with Debian's patch series applied.
unpack() {
  local name=$1 orig=$2 debian=$3 src="$work/$1"
  mkdir -p "$src"
  tar -xf "$orig" -C "$src" --strip-components=1
  tar -xf "$debian" -C "$src"
  if [ -f "$src/debian/patches/series" ]; then
    while read -r patch _; do
      case "$patch" in ''|'#'*) continue ;; esac
      patch -d "$src" -p1 -s < "$src/debian/patches/$patch"
    done < "$src/debian/patches/series"
  fi
  echo "$src"
}

# configure_build SRC ARGS...: a Release build of static, position-independent
# archives with one section per function, so the linker drops what is unused.
# The build's output goes to a log, shown when a step fails.
configure_build() {
  local src=$1; shift
  local flags="-O2 -DNDEBUG -ffunction-sections -fdata-sections" log="$src/_build.log"
  if ! {
    cmake -S "$src" -B "$src/_build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_C_FLAGS_RELEASE="$flags" -DCMAKE_CXX_FLAGS_RELEASE="$flags" \
      -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBUILD_SHARED_LIBS=OFF \
      -DCMAKE_INSTALL_PREFIX="$prefix.tmp" -DCMAKE_INSTALL_LIBDIR=lib "$@" &&
    cmake --build "$src/_build" -j "$(nproc)" &&
    cmake --install "$src/_build"
  } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    log "building $(basename "$src") failed (the last lines of its log are above)"
    exit 1
  fi
}

start=$SECONDS
log "building static cpprestsdk $CPPREST_VERSION, prometheus-cpp $PROMETHEUS_CPP_VERSION and date $DATE_VERSION (once; a few minutes on 2 cores)"

src=$(unpack date \
  "$(fetch "h/howardhinnant-date/howardhinnant-date_${DATE_VERSION%-*}.orig.tar.xz" "$DATE_ORIG_SHA256")" \
  "$(fetch "h/howardhinnant-date/howardhinnant-date_${DATE_VERSION}.debian.tar.xz" "$DATE_DEBIAN_SHA256")")
configure_build "$src" -DBUILD_TZ_LIB=ON -DUSE_SYSTEM_TZ_DB=ON -DCOMPILE_WITH_C_LOCALE=ON \
  -DENABLE_DATE_TESTING=OFF

src=$(unpack prometheus-cpp \
  "$(fetch "p/prometheus-cpp/prometheus-cpp_${PROMETHEUS_CPP_VERSION%-*}.orig.tar.gz" "$PROMETHEUS_CPP_ORIG_SHA256")" \
  "$(fetch "p/prometheus-cpp/prometheus-cpp_${PROMETHEUS_CPP_VERSION}.debian.tar.xz" "$PROMETHEUS_CPP_DEBIAN_SHA256")")
configure_build "$src" -DENABLE_PULL=OFF -DENABLE_PUSH=OFF -DENABLE_COMPRESSION=OFF \
  -DENABLE_TESTING=OFF -DUSE_THIRDPARTY_LIBRARIES=OFF -DOVERRIDE_CXX_STANDARD_FLAGS=OFF

src=$(unpack cpprest \
  "$(fetch "c/cpprest/cpprest_${CPPREST_VERSION%-*}.orig.tar.gz" "$CPPREST_ORIG_SHA256")" \
  "$(fetch "c/cpprest/cpprest_${CPPREST_VERSION}.debian.tar.xz" "$CPPREST_DEBIAN_SHA256")")
# The operator speaks plain HTTP/1.1 with TLS: no WebSockets, no compression.
configure_build "$src" -DBUILD_TESTS=OFF -DBUILD_SAMPLES=OFF -DWERROR=OFF \
  -DCPPREST_EXCLUDE_WEBSOCKETS=ON -DCPPREST_EXCLUDE_COMPRESSION=ON -DCPPREST_EXCLUDE_BROTLI=ON \
  -DCPPREST_EXPORT_DIR=cmake/cpprestsdk

touch "$prefix.tmp/.complete"
rm -rf "$prefix"
mv "$prefix.tmp" "$prefix"
log "built in $((SECONDS - start)) s into $prefix"
echo "$prefix"
