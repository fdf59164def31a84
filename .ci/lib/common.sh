# SPDX-License-Identifier: MIT
# Helpers shared by the .ci/stages scripts (sourced): apt installs, the Debian mirror, timing.

# apt-get install what is missing; waits for another apt/dpkg run instead of failing on its lock.
ci_apt_install() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    echo "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
}

# The Debian mirror this machine's apt uses (deb822 or one-line sources), else deb.debian.org.
ci_debian_mirror() {
    local uri
    uri=$(grep -hsE '^URIs:.*/debian/?$' /etc/apt/sources.list.d/*.sources | head -1 | awk '{print $2}')
    [ -n "$uri" ] || uri=$(grep -hsE '^deb +[^ ]+/debian/? +bookworm' /etc/apt/sources.list | head -1 | awk '{print $2}')
    echo "${uri:-http://deb.debian.org/debian}"
}

# Prints "== step" and, at the next step or ci_done, how long the previous one took.
ci_step_done() {
    [ -n "${ci_step_name:-}" ] && printf '== %s: %ss\n' "$ci_step_name" "$(( $(date +%s) - ci_step_start ))"
    ci_step_name=
}
ci_step() { ci_step_done; ci_step_name=$*; ci_step_start=$(date +%s); printf '== %s\n' "$*"; }

# ci_sum_summaries OUT FAILURES LOG...: the logs into OUT, then one meson-style summary summing
# theirs (.ci/run reads the last "Ok:", "Fail:"... lines); FAILURES (builds that broke) are added
# to "Fail:".
ci_sum_summaries() {
    local out=$1 failures=$2 key total file n
    shift 2
    cat "$@" 2>/dev/null >"$out"
    for key in Ok 'Expected Fail' Fail 'Unexpected Pass' Skipped Timeout; do
        total=0
        for file in "$@"; do
            n=$(grep -sE "^$key:" "$file" | tail -1 | awk '{print $NF}')
            total=$(( total + ${n:-0} ))
        done
        [ "$key" = Fail ] && total=$(( total + failures ))
        printf '%s: %s\n' "$key" "$total" >>"$out"
    done
}
