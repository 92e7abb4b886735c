#!/bin/sh
# Install what building, the demo and the tests need (Debian 12), skipping
# packages already present.  Usage: scripts/deps.sh [build|demo|test]
set -eu
what=${1:-test}
pkgs="meson ninja-build pkg-config gcc libc6-dev libmbedtls-dev libcbor-dev ca-certificates"
# The C# binding's tests: the mcs compiler, the mono runtime, and (in mono-devel)
# the .NET Framework 4.7.2 reference assemblies Mission Planner's target needs.
case "$what" in test) pkgs="$pkgs mono-mcs mono-runtime mono-devel" ;; esac
case "$what" in
demo) pkgs="$pkgs python3 python3-aiosmtpd python3-cryptography openssl" ;;
test) pkgs="$pkgs g++ python3 python3-aiosmtpd python3-cryptography openssl abigail-tools mpack
            valgrind postfix dovecot-core libsasl2-modules clang libclang-rt-14-dev time curl
            msmtp gpsbabel python3-cbor2 locales"
      # node-mavlink (npm) frames the scripted test flights; Debian's node if none
      command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || pkgs="$pkgs nodejs npm" ;;
esac
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ -n "$missing" ]; then
    echo "installing:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    # Postfix must not ask questions, and must not become this machine's MTA.
    echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# A decimal-comma locale, so the telemetry writers' locale independence is really tested.
if [ "$what" = test ] && ! locale -a 2>/dev/null | grep -qi '^de_DE\.utf-\?8$'; then
    $SUDO sed -i 's/^# *de_DE.UTF-8 UTF-8/de_DE.UTF-8 UTF-8/' /etc/locale.gen
    grep -q '^de_DE.UTF-8 UTF-8' /etc/locale.gen ||
        echo 'de_DE.UTF-8 UTF-8' | $SUDO tee -a /etc/locale.gen >/dev/null
    $SUDO locale-gen >/dev/null 2>&1 || echo "warning: locale-gen failed" >&2
fi
