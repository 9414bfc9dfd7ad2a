#!/bin/sh
# Generates development and test certificates with the openssl CLI.
#   scripts/gen-certs.sh [DIR]      (default: certs/)
# Writes into DIR:
#   ca.crt ca.key                 the development CA
#   server.crt server.key         localhost, 127.0.0.1, ::1 (signed by ca)
#   server-b.crt server-b.key     broker-b.example, a second name (tls.sni)
#   server-wild.crt/.key          *.fleet.example, a wildcard (tls.sni)
#   client.crt client.key         a client certificate, CN=client1 (ca)
#   expired-client.crt/.key       a client certificate that expired in 2020
#   revoked-client.crt/.key       a client certificate revoked by ca.crl
#   ca.crl                        the CA's CRL: revokes revoked-client only
#   expired-server.crt/.key       a server certificate that expired in 2020
#   weak-rsa1024.crt/.key         a server certificate with a 1024-bit RSA key
#   wrong-san.crt/.key            a server certificate for wrong.example only
#   other-ca.crt other-ca.key     an unrelated CA
#   other-client.crt/.key         a client certificate from other-ca
#   passwd                        a password file (mosquitto_passwd format):
#                                 demo / demo-password, sensor1 / sensor1-password
# Nothing here is for production: see certs/README.md.  Existing files are
# kept unless --force is given.  Keys are EC P-256 (but the weak one), mode
# 0600.
set -eu

force=0
if [ "${1:-}" = "--force" ]; then force=1; shift; fi
dir=${1:-certs}
mkdir -p "$dir"
cd "$dir"

# Everything is made together (one CA signs it all): keep it all, or none.
complete=1
for f in ca other-ca server server-b server-wild client expired-client \
    revoked-client expired-server weak-rsa1024 wrong-san other-client; do
	[ -f "$f.crt" ] && [ -f "$f.key" ] || complete=0
done
[ -f ca.crl ] && [ -f passwd ] || complete=0
if [ "$force" = 0 ] && [ "$complete" = 1 ] &&
    openssl x509 -in server.crt -noout -checkend 86400 >/dev/null 2>&1; then
	exit 0
fi

umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$1" 2>/dev/null; }

# ca NAME CN
ca() {
	key "$1.key"
	openssl req -x509 -new -key "$1.key" -sha256 -days 3650 \
	    -subj "/O=mqttguard development/CN=$2" \
	    -addext "basicConstraints=critical,CA:TRUE" \
	    -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1.crt"
}

# leaf NAME CA CN EXT [openssl-ca date options]
leaf() {
	name=$1 cakey=$2 cn=$3 ext=$4
	key "$name.key"
	openssl req -new -key "$name.key" -subj "/O=mqttguard development/CN=$cn" \
	    -out "$tmp/$name.csr"
	printf '%s\n' "$ext" >"$tmp/$name.ext"
	openssl x509 -req -in "$tmp/$name.csr" -CA "$cakey.crt" -CAkey "$cakey.key" \
	    -CAcreateserial -CAserial "$tmp/$cakey.srl" -sha256 -days 825 \
	    -extfile "$tmp/$name.ext" -out "$name.crt" 2>/dev/null
}

ca ca "mqttguard development CA"
ca other-ca "unrelated CA"
leaf server ca localhost "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"
# More names for the same appliance, chosen by SNI.
leaf server-b ca broker-b.example "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:broker-b.example"
leaf server-wild ca "*.fleet.example" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:*.fleet.example"
leaf client ca client1 "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
leaf other-client other-ca intruder "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
leaf wrong-san ca wrong.example "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:wrong.example"

# A 1024-bit RSA server key: what the policy check must refuse.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 \
    -out weak-rsa1024.key 2>/dev/null
openssl req -new -key weak-rsa1024.key \
    -subj "/O=mqttguard development/CN=localhost" -out "$tmp/weak.csr"
printf '%s\n' "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" >"$tmp/weak.ext"
openssl x509 -req -in "$tmp/weak.csr" -CA ca.crt -CAkey ca.key \
    -CAcreateserial -CAserial "$tmp/ca.srl" -sha256 -days 825 \
    -extfile "$tmp/weak.ext" -out weak-rsa1024.crt 2>/dev/null

# Explicit dates and revocation need openssl ca and its database: the
# expired certificates and the revoked client go through it, and the CRL
# is made from what it recorded.
mkdir -p "$tmp/db"
: >"$tmp/db/index.txt"
echo 1000 >"$tmp/db/serial"
echo 01 >"$tmp/db/crlnumber"
cat >"$tmp/ca.cnf" <<CNF
[ ca ]
default_ca = dev
[ dev ]
database = $tmp/db/index.txt
serial = $tmp/db/serial
crlnumber = $tmp/db/crlnumber
new_certs_dir = $tmp/db
default_md = sha256
default_crl_days = 825
policy = any
copy_extensions = none
[ any ]
commonName = supplied
organizationName = optional
[ ext ]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
[ server_ext ]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1
CNF

# cadone NAME CN EXT [openssl-ca options]: a leaf signed through the db.
cadone() {
	name=$1 cn=$2 ext=$3
	shift 3
	key "$name.key"
	openssl req -new -key "$name.key" \
	    -subj "/O=mqttguard development/CN=$cn" -out "$tmp/$name.csr"
	openssl ca -batch -config "$tmp/ca.cnf" -cert ca.crt -keyfile ca.key \
	    -extensions "$ext" -notext "$@" -in "$tmp/$name.csr" \
	    -out "$name.crt" 2>/dev/null
}
cadone expired-client expired ext \
    -startdate 20200101000000Z -enddate 20200102000000Z
cadone expired-server localhost server_ext \
    -startdate 20200101000000Z -enddate 20200102000000Z
cadone revoked-client revoked ext -days 825
openssl ca -batch -config "$tmp/ca.cnf" -cert ca.crt -keyfile ca.key \
    -revoke revoked-client.crt -crl_reason keyCompromise 2>/dev/null
openssl ca -batch -config "$tmp/ca.cnf" -cert ca.crt -keyfile ca.key \
    -gencrl -out ca.crl 2>/dev/null

# Development users.  mosquitto_passwd writes Mosquitto's own format, which
# mqttguard reads unchanged.
rm -f passwd
mosquitto_passwd -c -b passwd demo demo-password
mosquitto_passwd -b passwd sensor1 sensor1-password

chmod 0600 ./*.key passwd
chmod 0644 ./*.crt ca.crl
echo "certificates written to $(pwd)" >&2
