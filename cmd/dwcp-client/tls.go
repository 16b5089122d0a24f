package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// clientTLS is the TLS configuration the -tls-* flags ask for, nil when none is given
// (plaintext: the Unix socket, or a loopback sidecar without TLS). Bad flags or files are
// usage errors.
func clientTLS(cfg config) (*tls.Config, error) {
	if cfg.tlsCA == "" && cfg.tlsCert == "" && cfg.tlsKey == "" && cfg.tlsServerName == "" {
		return nil, nil
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return nil, usageError{"-tls-cert and -tls-key go together"}
	}
	out := &tls.Config{ServerName: cfg.tlsServerName, MinVersion: tls.VersionTLS12}
	if cfg.tlsCA != "" {
		pem, err := os.ReadFile(cfg.tlsCA)
		if err != nil {
			return nil, usageError{fmt.Sprintf("-tls-ca: %v", err)}
		}
		out.RootCAs = x509.NewCertPool()
		if !out.RootCAs.AppendCertsFromPEM(pem) {
			return nil, usageError{fmt.Sprintf("-tls-ca %s: no PEM certificate in it", cfg.tlsCA)}
		}
	}
	if cfg.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
		if err != nil {
			return nil, usageError{fmt.Sprintf("-tls-cert/-tls-key: %v", err)}
		}
		out.Certificates = []tls.Certificate{cert}
	}
	return out, nil
}
