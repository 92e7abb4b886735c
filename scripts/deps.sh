#!/bin/sh
# Install what building, the demo and the tests need (Debian 12), skipping
# packages already present.  Usage: scripts/deps.sh [build|demo|test]
set -eu
what=${1:-test}
pkgs="meson ninja-build pkg-config gcc libc6-dev libmbedtls-dev libcbor-dev ca-certificates"
# The C# binding's tests: the mcs compiler, the mono runtime, and (in mono-devel)
# the .NET Framework 4.7.2 reference assemblies Mission Planner's target needs.
case "$what" in test) pkgs="$pkgs mono-mcs mono-runtime mono-devel" ;; esac
# The cross suites (scripts/cross.sh): aarch64 under qemu, i686, Cortex-M4, Windows under wine
# (dpkg-dev: apt-get source for mbedTLS; curl, below: libcbor's tarball from the archive), and
# libcurl for the footprint comparison.
case "$what" in test) pkgs="$pkgs gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
    libmbedtls-dev:arm64 libcbor-dev:arm64 gcc-i686-linux-gnu libc6-dev-i386-cross
    libmbedtls-dev:i386 libcbor-dev:i386 gcc-arm-none-eabi libnewlib-arm-none-eabi
    libcurl4-openssl-dev gcc-mingw-w64-x86-64-win32 wine wine64 dpkg-dev" ;; esac
case "$what" in
demo) pkgs="$pkgs python3 python3-aiosmtpd python3-cryptography openssl" ;;
test) pkgs="$pkgs g++ python3 python3-aiosmtpd python3-cryptography openssl abigail-tools mpack
            valgrind postfix dovecot-core libsasl2-modules clang libclang-rt-14-dev time curl
            msmtp gpsbabel python3-cbor2 locales"
      # node-mavlink (npm) frames the scripted test flights; Debian's node if none
      command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || pkgs="$pkgs nodejs npm" ;;
esac
# Cross suites (scripts/cross.sh) use Debian's arm64 and i386 packages (multiarch).
if [ "$what" = test ]; then
    for a in arm64 i386; do
        dpkg --print-foreign-architectures | grep -qx "$a" || new_arch="${new_arch:-} $a"
    done
fi
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# The Windows suite builds mbedTLS from its Debian source package (apt-get source).
src_list=/etc/apt/sources.list.d/uavmail-deb-src.sources
need_src=""
[ "$what" = test ] && [ ! -f "$src_list" ] && need_src=1
if [ -n "$missing" ] || [ -n "${new_arch:-}" ] || [ -n "$need_src" ]; then
    echo "installing:$missing" >&2
    # Cross suites: Debian's arm64 and i386 packages (multiarch), and deb-src entries.
    for a in ${new_arch:-}; do $SUDO dpkg --add-architecture "$a"; done
    if [ -n "$need_src" ]; then
        printf '%s\n' 'Types: deb-src' 'URIs: http://deb.debian.org/debian' 'Suites: bookworm' \
            'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' |
            $SUDO tee "$src_list" >/dev/null
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Postfix must not ask questions, and must not become this machine's MTA.
    echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
    lock="-o DPkg::Lock::Timeout=900"
    # A partially failed update (one mirror index mid-sync) need not stop the install.
    $SUDO apt-get $lock update -qq || echo "deps.sh: apt-get update reported errors; installing anyway" >&2
    [ -z "$missing" ] || $SUDO apt-get $lock install -y -qq --no-install-recommends $missing >/dev/null
fi
# A decimal-comma locale, so the telemetry writers' locale independence is really tested.
if [ "$what" = test ] && ! locale -a 2>/dev/null | grep -qi '^de_DE\.utf-\?8$'; then
    $SUDO sed -i 's/^# *de_DE.UTF-8 UTF-8/de_DE.UTF-8 UTF-8/' /etc/locale.gen
    grep -q '^de_DE.UTF-8 UTF-8' /etc/locale.gen ||
        echo 'de_DE.UTF-8 UTF-8' | $SUDO tee -a /etc/locale.gen >/dev/null
    $SUDO locale-gen >/dev/null 2>&1 || echo "warning: locale-gen failed" >&2
fi
