package core

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
)

// testPKI is a throwaway certificate authority made in memory for the
// tests: nothing with a trusted private key is ever written to the tree.
type testPKI struct {
	CAPEM      string // the CA the tests trust
	ServerCert string // localhost, 127.0.0.1, ::1
	ServerKey  string
	ClientCert string // CN=w3sock test client, client auth
	ClientKey  string
	Expired    string // localhost, expired yesterday
	ExpiredKey string
	WrongHost  string // only www.example.com
	WrongKey   string
	OtherCA    string // a second CA nobody trusts by default
	RogueCert  string // localhost, signed by OtherCA (unknown authority)
	RogueKey   string
	RogueCli   string // a client certificate signed by OtherCA
	RogueCliK  string
}

var (
	pkiOnce sync.Once
	pki     *testPKI
	pkiErr  error
)

// getPKI returns the process-wide test PKI (made once: key generation is
// the slow part).
func getPKI(t testing.TB) *testPKI {
	t.Helper()
	pkiOnce.Do(func() { pki, pkiErr = makePKI() })
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pki
}

type issuer struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var serial int64 = 100

func newKey() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func pemOf(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func keyPEM(k *ecdsa.PrivateKey) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", err
	}
	return pemOf("PRIVATE KEY", der), nil
}

func makeCA(cn string) (*issuer, string, error) {
	k, err := newKey()
	if err != nil {
		return nil, "", err
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"w3sock tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, "", err
	}
	c, _ := x509.ParseCertificate(der)
	return &issuer{c, k}, pemOf("CERTIFICATE", der), nil
}

func (ca *issuer) leaf(cn string, dns []string, ips []net.IP, client bool, notBefore, notAfter time.Time) (string, string, error) {
	k, err := newKey()
	if err != nil {
		return "", "", err
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"w3sock tests"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		DNSNames:     dns,
		IPAddresses:  ips,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &k.PublicKey, ca.key)
	if err != nil {
		return "", "", err
	}
	kp, err := keyPEM(k)
	return pemOf("CERTIFICATE", der), kp, err
}

func makePKI() (*testPKI, error) {
	p := &testPKI{}
	now := time.Now()
	valid := [2]time.Time{now.Add(-time.Hour), now.Add(24 * time.Hour)}
	local := []string{"localhost"}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	ca, caPEM, err := makeCA("w3sock test CA")
	if err != nil {
		return nil, err
	}
	p.CAPEM = caPEM
	other, otherPEM, err := makeCA("w3sock other CA")
	if err != nil {
		return nil, err
	}
	p.OtherCA = otherPEM
	steps := []struct {
		iss       *issuer
		cn        string
		dns       []string
		ips       []net.IP
		client    bool
		nb, na    time.Time
		cert, key *string
	}{
		{ca, "localhost", local, ips, false, valid[0], valid[1], &p.ServerCert, &p.ServerKey},
		{ca, "w3sock test client", nil, nil, true, valid[0], valid[1], &p.ClientCert, &p.ClientKey},
		{ca, "localhost", local, ips, false, now.Add(-48 * time.Hour), now.Add(-24 * time.Hour), &p.Expired, &p.ExpiredKey},
		{ca, "www.example.com", []string{"www.example.com"}, nil, false, valid[0], valid[1], &p.WrongHost, &p.WrongKey},
		{other, "localhost", local, ips, false, valid[0], valid[1], &p.RogueCert, &p.RogueKey},
		{other, "rogue client", nil, nil, true, valid[0], valid[1], &p.RogueCli, &p.RogueCliK},
	}
	for _, s := range steps {
		c, k, err := s.iss.leaf(s.cn, s.dns, s.ips, s.client, s.nb, s.na)
		if err != nil {
			return nil, err
		}
		*s.cert, *s.key = c, k
	}
	return p, nil
}

// serverTLS is a TLS listener configuration with the test server certificate.
func (p *testPKI) serverTLS() *TLSOptions {
	return &TLSOptions{CertPEM: p.ServerCert, KeyPEM: p.ServerKey, CAPEM: p.CAPEM, CAReplaceSystem: true}
}

// clientTLS trusts only the test CA.
func (p *testPKI) clientTLS() *TLSOptions {
	return &TLSOptions{CAPEM: p.CAPEM, CAReplaceSystem: true}
}
