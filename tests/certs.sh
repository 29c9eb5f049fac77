#!/usr/bin/env bash
# tests/certs.sh DIR -- makes a throwaway PKI for tests in DIR (created if
# missing). Nothing here is trusted by anything outside the tests, and the
# keys never leave DIR (use a temporary directory; never commit them).
#
#   ca.pem ca.key               the test CA ("w3sock test CA")
#   server.pem server.key       CN=localhost, SAN localhost, 127.0.0.1, ::1
#   client.pem client.key       CN=w3sock test client (client auth)
#   expired.pem expired.key     CN=localhost, valid only in 2020
#   wronghost.pem wronghost.key CN=www.example.com, SAN www.example.com only
#   other-ca.pem                a second CA nobody trusts
#   rogue.pem rogue.key         CN=localhost, signed by other-ca (unknown authority)
#   chain.pem                   server.pem followed by ca.pem
#
# EC P-256 keys, valid for 2 days. Takes well under a second.
set -euo pipefail
dir=${1:?usage: tests/certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
umask 077

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

mkca() { # name cn
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 -subj "/O=w3sock tests/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

# leaf NAME CA CN EXT [openssl-ca date args...]
leaf() {
  local name=$1 ca=$2 cn=$3 ext=$4; shift 4
  key "$name.key"
  openssl req -new -key "$name.key" -out "$name.csr" -subj "/O=w3sock tests/CN=$cn" 2>/dev/null
  printf '%s\n' "$ext" > "$name.ext"
  if [ $# -eq 0 ]; then
    openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial \
      -out "$name.pem" -days 2 -extfile "$name.ext" 2>/dev/null
  else
    # Arbitrary validity dates need `openssl ca` (x509 -req has only -days).
    mkdir -p "ca-$ca"; : > "ca-$ca/index.txt"
    [ -e "ca-$ca/serial" ] || echo 1000 > "ca-$ca/serial"
    cat > "ca-$ca/ca.cnf" <<EOF
[ca]
default_ca = d
[d]
dir = ca-$ca
database = ca-$ca/index.txt
serial = ca-$ca/serial
new_certs_dir = ca-$ca
certificate = $ca.pem
private_key = $ca.key
default_md = sha256
policy = p
unique_subject = no
copy_extensions = none
[p]
commonName = supplied
organizationName = optional
EOF
    openssl ca -batch -config "ca-$ca/ca.cnf" -in "$name.csr" -out "$name.pem" -notext \
      -extfile "$name.ext" "$@" 2>/dev/null
  fi
  rm -f "$name.csr" "$name.ext"
}

server_ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"

mkca ca "w3sock test CA"
mkca other-ca "w3sock other CA"
leaf server ca localhost "$server_ext"
leaf client ca "w3sock test client" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
leaf expired ca localhost "$server_ext" -startdate 20200101000000Z -enddate 20200102000000Z
leaf wronghost ca www.example.com "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:www.example.com"
leaf rogue other-ca localhost "$server_ext"
cat server.pem ca.pem > chain.pem
rm -rf ca-ca ca-other-ca ./*.srl
chmod 644 ./*.pem
