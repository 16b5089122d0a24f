package server

import (
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Defaults of the connection limits in Config.
const (
	DefaultMaxConns         = 256
	DefaultMaxStreams       = 64
	DefaultIdleTimeout      = 5 * time.Minute
	DefaultHandshakeTimeout = 5 * time.Second

	// The server pings a connection silent for keepaliveTime and closes it when the ping
	// is not answered within keepaliveTimeout; a client pinging more often than
	// keepaliveMinTime, or without a call in flight, is told to go away.
	keepaliveTime    = 2 * time.Minute
	keepaliveTimeout = 20 * time.Second
	keepaliveMinTime = 30 * time.Second
)

// limitOptions are the gRPC options of the stream, idle, keepalive and handshake limits.
func limitOptions(maxStreams int, idle, handshake time.Duration) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxConcurrentStreams(uint32(maxStreams)),
		grpc.ConnectionTimeout(handshake),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: idle, Time: keepaliveTime, Timeout: keepaliveTimeout,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime: keepaliveMinTime, PermitWithoutStream: false,
		}),
	}
}

// limitListener accepts at most cap(slots) connections at once over all the Server's
// listeners. A connection beyond that is closed at once rather than queued: a queue of
// idle peers would delay every real caller behind them.
type limitListener struct {
	net.Listener
	slots   chan struct{}
	metrics *metrics
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			l.metrics.conns.Inc()
			return &limitedConn{Conn: c, release: func() {
				<-l.slots
				l.metrics.conns.Dec()
			}}, nil
		default:
			c.Close()
			l.metrics.connsRefused.Inc()
		}
	}
}

// limitedConn gives its slot back when closed (once, however often it is closed).
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// NetConn is the connection underneath, for the handshake's peer credentials.
func (c *limitedConn) NetConn() net.Conn { return c.Conn }
