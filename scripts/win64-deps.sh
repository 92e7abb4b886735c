#!/bin/sh
# Build mbedTLS and libcbor for Windows (x86_64-w64-mingw32, static, -Os) from Debian's source
# packages into build-win64-deps/prefix, with pkg-config files and a meson machine file
# (build-win64-deps/paths.ini) that points meson at them.  Used by scripts/cross.sh; only
# Debian's archive is contacted, and only here, never at build time.
#
# mbedTLS: bookworm's source package (apt-get source, which needs the deb-src entry deps.sh
# adds), the same 2.28 the Linux builds use.
# libcbor: bookworm's 0.8.0 upstream tarball is gone from the archive (404), so this takes the
# upstream tarball of trixie's source package, libcbor 0.10.2-2, checked against the SHA-256 in
# trixie's Sources index.  Every libcbor call uavmail makes means the same in 0.8 and 0.10
# (0.10 sizes cbor_serialize_alloc's buffer exactly; the length is still its return value).
#
# Exit status: 0 built (or already built), 2 a source could not be had from the archive (the
# suite is skipped), 1 anything else (the suite fails).  Sources are unpacked into a scratch
# directory and moved into place only when complete; a stamp naming the libcbor version,
# written last, marks a finished build.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
d=$top/build-win64-deps
prefix=$d/prefix
cbor_ver=0.10.2
cbor_sha=e75f712215d7b7e5c89ef322a09b701f7159f028b8b48978865725f00f79875b
cbor_tar=libcbor_$cbor_ver.orig.tar.gz
stamp=$d/built-mbedtls-libcbor-$cbor_ver
[ -f "$stamp" ] && [ -f "$d/paths.ini" ] && exit 0
command -v x86_64-w64-mingw32-gcc > /dev/null || { echo "x86_64-w64-mingw32-gcc missing"; exit 1; }
rm -f "$d"/built-*
mkdir -p "$d/src" "$prefix/lib/pkgconfig" "$prefix/include"
cd "$d/src"
if ! ls -d mbedtls-*/ > /dev/null 2>&1; then
    # Upstream sources without Debian's patches (those only adjust the Linux packaging).
    rm -f mbedtls_*
    apt-get source --download-only mbedtls || { echo "mbedTLS: no source package"; exit 2; }
    rm -rf .mbedtls-x
    dpkg-source -x --skip-patches mbedtls_*.dsc .mbedtls-x > /dev/null
    mv .mbedtls-x "mbedtls-$(sed -n 's/^Version: \([^-]*\).*/\1/p' mbedtls_*.dsc)"
fi
src=$(ls -d "$d"/src/mbedtls-*/ | head -1)
make -C "$src/library" -j2 WINDOWS_BUILD=1 CC=x86_64-w64-mingw32-gcc AR=x86_64-w64-mingw32-ar \
    CFLAGS="-Os" static > "$d/mbedtls-build.txt" 2>&1 || { tail -20 "$d/mbedtls-build.txt"; exit 1; }
cp "$src"/library/libmbedtls.a "$src"/library/libmbedx509.a "$src"/library/libmbedcrypto.a "$prefix/lib/"
rm -rf "$prefix/include/mbedtls" "$prefix/include/psa"
cp -r "$src/include/mbedtls" "$src/include/psa" "$prefix/include/"
ver=$(sed -n 's/^#define MBEDTLS_VERSION_STRING *"\(.*\)"/\1/p' "$src/include/mbedtls/version.h")
pc() { # name, libs, requires
    cat > "$prefix/lib/pkgconfig/$1.pc" <<EOF
prefix=$prefix
Name: $1
Description: $1 $ver for Windows, built from Debian's source package
Version: $ver
Requires.private: $3
Cflags: -I\${prefix}/include
Libs: -L\${prefix}/lib $2
EOF
}
pc mbedcrypto "-lmbedcrypto -lbcrypt -lws2_32" ""
pc mbedx509 "-lmbedx509" "mbedcrypto"
pc mbedtls "-lmbedtls" "mbedx509"
# pkg-config --static is not what meson asks for, so list the chain in Libs instead.
sed -i 's/^Libs: .*/Libs: -L${prefix}\/lib -lmbedtls -lmbedx509 -lmbedcrypto -lbcrypt -lws2_32/' \
    "$prefix/lib/pkgconfig/mbedtls.pc"
sed -i 's/^Libs: .*/Libs: -L${prefix}\/lib -lmbedx509 -lmbedcrypto -lbcrypt -lws2_32/' \
    "$prefix/lib/pkgconfig/mbedx509.pc"
# ---- libcbor: its CMake project also asks for a C++ compiler, which mingw-w64's C package
# lacks, so compile the source list its src/CMakeLists.txt names, with the two headers CMake
# would generate.
if [ ! -d "$d/src/libcbor-$cbor_ver" ]; then
    if [ ! -f "$cbor_tar" ]; then
        curl -fsS -o "$cbor_tar.part" "http://deb.debian.org/debian/pool/main/libc/libcbor/$cbor_tar" ||
            { echo "libcbor: $cbor_tar not in the archive"; rm -f "$cbor_tar.part"; exit 2; }
        mv "$cbor_tar.part" "$cbor_tar"
    fi
    echo "$cbor_sha  $cbor_tar" | sha256sum -c - > /dev/null ||
        { echo "$cbor_tar: SHA-256 differs from trixie's Sources index"; rm -f "$cbor_tar"; exit 1; }
    rm -rf .cbor-x && mkdir .cbor-x
    tar xzf "$cbor_tar" -C .cbor-x
    mv ".cbor-x/libcbor-$cbor_ver" "libcbor-$cbor_ver" && rm -rf .cbor-x
fi
csrc=$d/src/libcbor-$cbor_ver/src
cbuild=$d/cbor-build
rm -rf "$cbuild" && mkdir -p "$cbuild/cbor"
cbor_major=${cbor_ver%%.*}
cbor_patch=${cbor_ver##*.}
cbor_minor=${cbor_ver#*.}
cbor_minor=${cbor_minor%.*}
sed -e "s/\${CBOR_VERSION_MAJOR}/$cbor_major/; s/\${CBOR_VERSION_MINOR}/$cbor_minor/" \
    -e "s/\${CBOR_VERSION_PATCH}/$cbor_patch/" \
    -e 's/${CBOR_BUFFER_GROWTH}/2/; s/${CBOR_MAX_STACK_SIZE}/2048/' \
    -e 's/#cmakedefine01 CBOR_PRETTY_PRINTER/#define CBOR_PRETTY_PRINTER 0/' \
    -e 's/${CBOR_RESTRICT_SPECIFIER}/restrict/; s/${CBOR_INLINE_SPECIFIER}/inline/' \
    "$csrc/cbor/configuration.h.in" > "$cbuild/cbor/configuration.h"
printf '#ifndef CBOR_EXPORT_H\n#define CBOR_EXPORT_H\n#define CBOR_EXPORT\n#define CBOR_NO_EXPORT\n#endif\n' \
    > "$cbuild/cbor/cbor_export.h"
sources=$(sed -n 's/^set(SOURCES \(.*\))$/\1/p' "$csrc/CMakeLists.txt")
[ -n "$sources" ] || { echo "libcbor: no source list in $csrc/CMakeLists.txt"; exit 1; }
: > "$d/cbor-build.txt"
for c in $sources; do
    x86_64-w64-mingw32-gcc -std=c99 -Os -I"$cbuild" -I"$csrc" -c "$csrc/$c" \
        -o "$cbuild/$(echo "$c" | tr / _).o" >> "$d/cbor-build.txt" 2>&1 ||
        { tail -20 "$d/cbor-build.txt"; exit 1; }
done
rm -f "$prefix/lib/libcbor.a" && rm -rf "$prefix/include/cbor" "$prefix/include/cbor.h"
x86_64-w64-mingw32-ar rcs "$prefix/lib/libcbor.a" "$cbuild"/*.o
(cd "$csrc" && find cbor -name '*.h' -exec cp --parents {} "$prefix/include/" \;)
cp "$csrc/cbor.h" "$prefix/include/" && cp "$cbuild"/cbor/*.h "$prefix/include/cbor/"
cat > "$prefix/lib/pkgconfig/libcbor.pc" <<EOF
prefix=$prefix
Name: libcbor
Description: libcbor $cbor_ver for Windows, built from Debian's source package
Version: $cbor_ver
Cflags: -I\${prefix}/include
Libs: -L\${prefix}/lib -lcbor
EOF

cat > "$d/paths.ini" <<EOF
# Generated by scripts/win64-deps.sh: where the Windows builds of the dependencies are.
[properties]
pkg_config_libdir = ['$prefix/lib/pkgconfig']
EOF
touch "$stamp"
echo "mbedTLS $ver and libcbor $cbor_ver for Windows in $prefix"
