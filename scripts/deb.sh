#!/bin/sh
# Builds build/mqttguard_VERSION-1_ARCH.deb with dpkg-deb from dist/debian:
# the binary built apart (build/deb-obj) with Debian's hardening flags and
# stripped, the man pages gzipped, the unit in /lib/systemd/system, the
# policy as a conffile, the maintainer scripts, copyright and
# changelog.Debian.gz.  Dependencies come from dpkg-shlibdeps.  Then, if
# lintian is installed, runs it and fails on an error or a warning.
#   scripts/deb.sh [--no-lintian]
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
version="$(cat VERSION)-1"
arch=$(dpkg --print-architecture)
obj=build/deb-obj
root=build/deb-root
deb=build/mqttguard_${version}_${arch}.deb

export DEB_BUILD_MAINT_OPTIONS=hardening=+all
cflags="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
ldflags=$(dpkg-buildflags --get LDFLAGS)

rm -rf "$root"
make -s -j2 BUILD="$obj" WERROR=1 CFLAGS="$cflags" LDFLAGS="$ldflags" \
    "$obj/mqttguard"
make -s BUILD="$obj" CFLAGS="$cflags" LDFLAGS="$ldflags" DESTDIR="$root" \
    prefix=/usr systemdunitdir=/lib/systemd/system sysconfdir=/etc \
    install-strip

# What dh_strip also drops: the compiler's notes.
strip --remove-section=.comment --remove-section=.note \
    "$root/usr/bin/mqttguard"
install -d -m 0755 "$root/usr/share/lintian/overrides"
install -m 0644 dist/debian/lintian-overrides \
    "$root/usr/share/lintian/overrides/mqttguard"

# Man pages and the changelog compressed as Debian wants them (-n: no
# name or time stamp, so the same tree gives the same package).
gzip -9n "$root"/usr/share/man/man8/mqttguard.8 \
    "$root"/usr/share/man/man5/mqttguard.yaml.5
doc="$root/usr/share/doc/mqttguard"
install -d -m 0755 "$doc/examples"
install -m 0644 dist/debian/copyright "$doc/copyright"
sed "s/@VERSION@/$version/" dist/debian/changelog | gzip -9n \
    > "$doc/changelog.Debian.gz"
chmod 0644 "$doc/changelog.Debian.gz"
install -m 0644 policies/example.yaml "$doc/examples/example.yaml"
# The guides the man pages point to, with their Markdown names.
for f in docs/*.md; do
	if [ -e "$f" ]; then install -m 0644 "$f" "$doc/"; fi
done

install -d -m 0755 "$root/DEBIAN"
install -m 0644 dist/debian/conffiles "$root/DEBIAN/conffiles"
for s in postinst prerm postrm; do
	install -m 0755 "dist/debian/$s" "$root/DEBIAN/$s"
done

# dpkg-shlibdeps wants a debian/control to read; give it one aside.
shl=build/deb-shlibs
rm -rf "$shl" && mkdir -p "$shl/debian"
printf 'Source: mqttguard\n\nPackage: mqttguard\nArchitecture: any\n' \
    > "$shl/debian/control"
depends=$(cd "$shl" && dpkg-shlibdeps -O "$top/$root/usr/bin/mqttguard" |
    sed -n 's/^shlibs:Depends=//p')
size=$(du -k -s --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" \
    -e "s/@DEPENDS@/$depends/" -e "s/@SIZE@/$size/" \
    dist/debian/control.in > "$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' |
    sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

find "$root" -type d -exec chmod 0755 {} +
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"

if [ "${1:-}" != --no-lintian ] && command -v lintian >/dev/null; then
	# --fail-on warning: errors and warnings fail the build; info tags
	# are shown.
	lintian --info --display-info --fail-on error,warning "$deb"
fi
