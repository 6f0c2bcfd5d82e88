#!/usr/bin/env bash
# Checks a Dockerfile against the binary it packages, built on this Debian 12
# host from the same sources:
# - the builder stage starts from debian:12 and builds only this binary's
#   target with the tests off; the runtime stage starts from debian:12-slim;
# - every shared library `ldd` resolves comes from a Debian package (dpkg -S)
#   that the runtime stage installs, or that debian:12-slim already holds
#   (priority "required" and apt), or that one of those depends on; a library
#   the binary links directly must come from a package installed by name (or
#   from the base);
# - every library package installed is one the binary needs (ca-certificates
#   and tzdata aside);
# - USER is a numeric non-root uid:gid, the binary is copied from the builder's
#   build tree to the path ENTRYPOINT runs.
#
#   bash tests/packaging/dockerfile_test.sh DOCKERFILE BINARY [DOCKERFILE BINARY...]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../cluster/lib.sh"

if [ $# -eq 0 ] || [ $(($# % 2)) -ne 0 ]; then
  echo "usage: $0 DOCKERFILE BINARY [DOCKERFILE BINARY...]" >&2
  exit 2
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# Packages present without being asked for, beyond libraries' own dependencies.
always_there=(ca-certificates tzdata)

# owners FILE...: fills `owner` with the Debian package (without its
# architecture) that ships each FILE, under each spelling a merged /usr gives
# it (/lib and /usr/lib, and the file a symlink resolves to).
declare -A owner=()
owners() {
  local f line
  for f in "$@"; do printf '%s\n' "$f" "/usr$f" "${f#/usr}" "$(readlink -f "$f")"; done | sort -u |
    xargs dpkg -S 2>/dev/null | grep -v '^diversion' >"$scratch/owners" || true
  while IFS= read -r line; do owner[${line##*: }]=${line%%:*}; done <"$scratch/owners"
}
# package_of FILE: prints the package that ships FILE (see owners).
package_of() {
  local f=$1 candidate
  for candidate in "$f" "/usr$f" "${f#/usr}" "$(readlink -f "$f")"; do
    if [ -n "${owner[$candidate]:-}" ]; then echo "${owner[$candidate]}"; return 0; fi
  done
  return 1
}

# Every installed package and what it depends on (Depends, Pre-Depends), one
# "package dep dep..." line each; of an alternative (a | b) the installed ones.
dependencies=$(dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Depends}, ${Pre-Depends}\n' |
  awk -F'\t' '$1 ~ /^ii/ {
      installed[$2] = 1; deps[$2] = $3
    }
    END {
      for (p in deps) {
        line = p
        n = split(deps[p], alts, /[,|]/)
        for (i = 1; i <= n; i++) {
          d = alts[i]; sub(/\(.*\)/, "", d); sub(/:any/, "", d); gsub(/[[:space:]]/, "", d)
          if (d in installed) line = line " " d
        }
        print line
      }
    }')
declare -A depends_on=()
while read -r p deps; do depends_on[$p]=$deps; done <<<"$dependencies"

# closure PACKAGE...: prints PACKAGE... and every installed package they
# depend on, transitively.
closure() {
  local -A seen=()
  local queue=("$@") p
  while [ ${#queue[@]} -gt 0 ]; do
    p=${queue[-1]}; unset 'queue[-1]'
    [ -n "${seen[$p]:-}" ] && continue
    seen[$p]=1
    queue+=(${depends_on[$p]:-})
  done
  printf '%s\n' "${!seen[@]}" | sort
}

# The packages of debian:12-slim: priority "required" (as installed here) and apt.
mapfile -t base < <(closure apt $(dpkg-query -W -f='${Package} ${Priority}\n' | awk '$2 == "required" {print $1}'))
declare -A in_base=()
for p in "${base[@]}"; do in_base[$p]=1; done

check_image() {
  local dockerfile=$1 binary=$2
  local df name; df=$(basename "$(dirname "$dockerfile")")/$(basename "$dockerfile"); name=$(basename "$binary")
  if [ ! -f "$dockerfile" ]; then fail "$df exists"; return; fi
  if [ ! -x "$binary" ]; then fail "$df: the binary $binary exists"; return; fi

  # Instructions one per line: comments dropped, continuation lines joined.
  local text stages runtime builder
  text=$(sed -e '/^[[:space:]]*#/d' "$dockerfile" | sed -e ':a' -e '/\\$/N' -e 's/\\\n/ /' -e 'ta')
  stages=$(grep -c '^FROM ' <<<"$text")
  check "$df has a builder and a runtime stage" test "$stages" -ge 2
  builder=$(awk '/^FROM /{n++} n==1' <<<"$text")
  runtime=$(awk -v last="$stages" '/^FROM /{n++} n==last' <<<"$text")
  check "$df: the builder starts from debian:12" grep -Eq '^FROM debian:12( |$)' <<<"$builder"
  check "$df: the runtime stage starts from debian:12-slim" grep -Eq '^FROM debian:12-slim( |$)' <<<"$runtime"
  check "$df: the builder builds only --target $name" grep -Eq -- "--target $name( |$)" <<<"$builder"
  check "$df: the builder turns the tests off" grep -q -- '-DPRICING_BUILD_TESTS=OFF' <<<"$builder"

  # The runtime stage's apt-get install arguments.
  local -a words installed=()
  local w collecting=0 prev=""
  read -ra words <<<"$(grep '^RUN ' <<<"$runtime" | tr '\n' ' ')"
  for w in "${words[@]}"; do
    case $w in
      '&&'|'||'|';'|'|') collecting=0 ;;
      install) [ "$prev" = apt-get ] && collecting=1 ;;
      -*) ;;
      *) [ "$collecting" = 1 ] && installed+=("$w") ;;
    esac
    prev=$w
  done
  check "$df: the runtime stage installs packages" test ${#installed[@]} -gt 0
  local -A wanted=()
  for p in "${installed[@]}"; do wanted[$p]=1; done
  for p in "${always_there[@]}"; do
    check "$df: the runtime stage installs $p" test -n "${wanted[$p]:-}"
  done
  local unknown=()
  for p in "${installed[@]}"; do
    dpkg-query -W "$p" >/dev/null 2>&1 || unknown+=("$p")
  done
  check "$df: every package it installs is a Debian 12 package known here (unknown: ${unknown[*]:-none})" \
    test ${#unknown[@]} -eq 0

  # What the binary needs: the packages of its direct and of all its libraries.
  local -A direct=() needed=() lib_of=()
  local lib path pkg ldd_out unresolved=() unpackaged=()
  ldd_out=$(ldd "$binary")
  # ldd lists the dynamic loader by its path alone ("/lib64/ld-linux-x86-64.so.2 (0x...)"),
  # which a binary names as NEEDED when it calls into the loader (a static libstdc++ does).
  owners $(awk '$2 == "=>" && $3 != "not" {print $3} $1 ~ /^\// && $2 ~ /^\(0x/ {print $1}' <<<"$ldd_out")
  while read -r lib; do
    path=$(awk -v l="$lib" '$1 == l && $2 == "=>" {print $3}
                           $1 ~ "/" l "$" && $2 ~ /^\(0x/ {print $1}' <<<"$ldd_out")
    [ "$path" = not ] && continue  # reported below
    if [ -z "$path" ]; then unresolved+=("$lib"); continue; fi
    if pkg=$(package_of "$path"); then direct[$pkg]=1; else unpackaged+=("$path"); fi
  done < <(objdump -p "$binary" | awk '$1 == "NEEDED" {print $2}')
  while read -r lib path; do
    if [ "$path" = not ]; then unresolved+=("$lib"); continue; fi
    if pkg=$(package_of "$path"); then needed[$pkg]=1; lib_of[$pkg]=$lib; else unpackaged+=("$path"); fi
  done < <(awk '$2 == "=>" {print $1, $3}' <<<"$ldd_out")
  check "$df: ldd resolves every library of $name (unresolved: ${unresolved[*]:-none})" test ${#unresolved[@]} -eq 0
  check "$df: every library comes from a Debian package (without one: ${unpackaged[*]:-none})" test ${#unpackaged[@]} -eq 0

  local missing=()
  for pkg in "${!direct[@]}"; do
    [ -n "${wanted[$pkg]:-}" ] || [ -n "${in_base[$pkg]:-}" ] || missing+=("$pkg")
  done
  check "$df installs the package of every library $name links directly (missing: ${missing[*]:-none})" \
    test ${#missing[@]} -eq 0
  local -A present=()
  for p in $(closure "${installed[@]}" "${base[@]}"); do present[$p]=1; done
  missing=()
  for pkg in "${!needed[@]}"; do
    [ -n "${present[$pkg]:-}" ] || missing+=("$pkg (${lib_of[$pkg]})")
  done
  check "$df brings every library ldd resolves (missing: ${missing[*]:-none})" test ${#missing[@]} -eq 0
  local extra=()
  for p in "${installed[@]}"; do
    [[ " ${always_there[*]} " == *" $p "* ]] && continue
    [ -n "${needed[$p]:-}" ] || extra+=("$p")
  done
  check "$df installs no library package $name does not need (extra: ${extra[*]:-none})" \
    test ${#extra[@]} -eq 0

  # The user and the binary's path.
  local user copy source dest entry
  user=$(grep '^USER ' <<<"$runtime" | tail -n 1 | awk '{print $2}')
  check "$df runs as a numeric non-root uid:gid (USER $user)" \
    bash -c '[[ $1 =~ ^[0-9]+(:[0-9]+)?$ ]] && [ "${1%%:*}" != 0 ] && [ "${1#*:}" != 0 ]' _ "$user"
  copy=$(grep -E "^COPY --from=[^ ]+ [^ ]*/$name " <<<"$runtime" | tail -n 1)
  read -r _ _ source dest <<<"$copy"
  [ "${dest: -1}" = / ] && dest=$dest$name
  check "$df copies $name from the builder's build tree (${source:-no COPY --from})" \
    bash -c '[[ $1 == */build/$2 ]]' _ "${source:-}" "$(basename "$(dirname "$binary")")/$name"
  entry=$(grep '^ENTRYPOINT ' <<<"$runtime" | tail -n 1 | sed 's/^ENTRYPOINT //' |
          python3 -c 'import json,sys; print(json.loads(sys.stdin.read())[0])' 2>/dev/null)
  check "$df: ENTRYPOINT (exec form) runs the copied binary (${entry:-none} = ${dest:-none})" \
    test -n "$entry" -a "$entry" = "${dest:-}"
}

while [ $# -gt 0 ]; do
  check_image "$1" "$2"
  shift 2
done
summary
