package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// uidList is the -admin-uids flag: a comma-separated list of numeric uids.
type uidList []uint32

func (l *uidList) String() string {
	s := make([]string, len(*l))
	for i, u := range *l {
		s[i] = strconv.FormatUint(uint64(u), 10)
	}
	return strings.Join(s, ",")
}

func (l *uidList) Set(v string) error {
	*l = nil
	for part := range strings.SplitSeq(v, ",") {
		u, err := strconv.ParseUint(strings.TrimSpace(part), 10, 32)
		if err != nil {
			return fmt.Errorf("%q is not a numeric uid", part)
		}
		*l = append(*l, uint32(u))
	}
	return nil
}

// fileMode is the -socket-mode flag, in octal.
type fileMode fs.FileMode

func (m *fileMode) String() string { return fmt.Sprintf("%04o", fs.FileMode(*m)) }

func (m *fileMode) Set(v string) error {
	u, err := strconv.ParseUint(v, 8, 32)
	if err != nil || u > 0o777 {
		return fmt.Errorf("%q is not an octal file mode (0000 to 0777)", v)
	}
	*m = fileMode(u)
	return nil
}

// checkListen refuses, at start, TCP listening that would expose the sidecar: on an
// address other than loopback ("", 0.0.0.0 and :: are every interface) it needs TLS, or
// -insecure said on purpose. TLS flags apply to -tcp only.
func checkListen(cfg *config, set map[string]bool) error {
	tlsGiven := cfg.tlsCert != "" || cfg.tlsKey != "" || cfg.tlsClientCA != ""
	switch {
	case tlsGiven && cfg.tcp == "":
		return errors.New("-tls-cert, -tls-key and -tls-client-ca apply to -tcp; give -tcp ADDR")
	case (cfg.tlsCert == "") != (cfg.tlsKey == ""):
		return errors.New("-tls-cert and -tls-key go together")
	case cfg.tlsClientCA != "" && cfg.tlsCert == "":
		return errors.New("-tls-client-ca needs -tls-cert and -tls-key (client certificates are checked in TLS)")
	case set["insecure"] && cfg.tcp == "":
		return errors.New("-insecure applies to -tcp")
	}
	if cfg.tcp == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(cfg.tcp)
	if err != nil {
		return fmt.Errorf("-tcp %s: %w", cfg.tcp, err)
	}
	if cfg.tlsCert == "" && !isLoopback(host) && !cfg.insecure {
		return fmt.Errorf("-tcp %s listens beyond loopback without TLS: give -tls-cert and -tls-key, "+
			"listen on 127.0.0.1 or [::1], or add -insecure to serve plaintext on purpose", cfg.tcp)
	}
	return nil
}

// isLoopback: host is "localhost" or a loopback IP; "" (every interface) is not.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serverTLS loads the server certificate and, with -tls-client-ca, the CA that verifies
// client certificates. A client without a certificate still connects (for the model
// calls); admin calls need a verified one.
func serverTLS(certFile, keyFile, clientCA string) (*tls.Config, error) {
	if certFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("-tls-cert/-tls-key: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCA == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(clientCA)
	if err != nil {
		return nil, fmt.Errorf("-tls-client-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-tls-client-ca %s: no PEM certificate in it", clientCA)
	}
	cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
	return cfg, nil
}

// defaultRoot is the default -bundle-root: the directory holding -bundle.
func defaultRoot(bundle string) string {
	abs, err := filepath.Abs(bundle)
	if err != nil {
		return filepath.Dir(filepath.Clean(bundle))
	}
	return filepath.Dir(abs)
}
