#!/bin/sh
# README "Footprint": the anchor program, built here.  Builds an SMTP-only static libcurl (with
# mbedTLS, like uavmail) from Debian's curl source package and links test/footprint/curl_send.c
# against it; prints the stripped program size.  Run by hand (a few minutes, not in CI):
#   test/footprint/curl_minimal.sh [WORK_DIR]      (default build-size/curl)
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
w=${1:-$top/build-size/curl}
mkdir -p "$w"
cd "$w"
if ! ls -d curl-*/ > /dev/null 2>&1; then
    apt-get source --download-only curl > /dev/null
    dpkg-source -x --skip-patches curl_*.dsc > /dev/null
fi
src=$(ls -d "$w"/curl-*/ | head -1)
if [ ! -f "$w/prefix/lib/libcurl.a" ]; then
    (cd "$src" && ./configure -q --prefix="$w/prefix" --disable-shared --enable-static \
        --with-mbedtls --without-openssl --without-zlib --without-brotli --without-zstd \
        --without-libidn2 --without-libpsl --without-nghttp2 --without-librtmp --without-libssh2 \
        --without-ngtcp2 --without-nghttp3 --without-hyper --without-libgsasl --without-gssapi \
        --disable-ldap --disable-ldaps --disable-dict --disable-file --disable-ftp \
        --disable-gopher --disable-http --disable-imap --disable-mqtt --disable-pop3 \
        --disable-rtsp --disable-smb --disable-telnet --disable-tftp --enable-smtp \
        --disable-proxy --disable-cookies --disable-manual --disable-ntlm --disable-ntlm-wb \
        --disable-unix-sockets --disable-alt-svc --disable-hsts --disable-doh --disable-mime \
        --disable-netrc --disable-progress-meter --disable-dateparse --disable-verbose \
        --disable-threaded-resolver --disable-socketpair --disable-websockets \
        CFLAGS="-Os -ffunction-sections -fdata-sections" > "$w/configure.txt" 2>&1)
    make -C "$src/lib" -j2 > "$w/make.txt" 2>&1
    make -C "$src/lib" install > /dev/null 2>&1
    make -C "$src/include" install > /dev/null 2>&1
fi
mb=/usr/lib/x86_64-linux-gnu
cc -Os -std=c11 -Wall -Wextra -Werror -ffunction-sections -fdata-sections -I"$w/prefix/include" "$top/test/footprint/curl_send.c" \
    "$w/prefix/lib/libcurl.a" $mb/libmbedtls.a $mb/libmbedx509.a $mb/libmbedcrypto.a \
    -Wl,--gc-sections -Wl,-Map="$w/curl_send.map" -s -o "$w/curl_send.static"
echo "SMTP-only libcurl $(basename "$src") + mbedTLS, statically linked, stripped:" \
     "$(stat -c %s "$w/curl_send.static") bytes; text/data/bss kept per library:"
/usr/bin/python3 "$top/test/footprint/mapsize.py" "$w/curl_send.map" --archives | sed 's/^/  /'
