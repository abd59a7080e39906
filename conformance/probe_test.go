package conformance

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"

	"github.com/barelb/barelb/internal/lab"
)

func itoa(n int) string { return strconv.Itoa(n) }

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// arpProbe sends count ARP requests for addr from h's lab link, one every
// wait, and returns the distinct sender MACs of the replies, sorted.
func arpProbe(h *lab.Host, addr netip.Addr, count int, wait time.Duration) ([]string, error) {
	conn, ifi, err := listenLink(h, ethernet.EtherTypeARP)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	req, err := arp.NewPacket(arp.OperationRequest, ifi.HardwareAddr, h.IPv4.Addr(), ethernet.Broadcast, addr)
	if err != nil {
		return nil, err
	}
	pb, err := req.MarshalBinary()
	if err != nil {
		return nil, err
	}
	f := &ethernet.Frame{Destination: ethernet.Broadcast, Source: ifi.HardwareAddr, EtherType: ethernet.EtherTypeARP, Payload: pb}
	fb, err := f.MarshalBinary()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	buf := make([]byte, 1500)
	for i := 0; i < count; i++ {
		if _, err := conn.WriteTo(fb, &packet.Addr{HardwareAddr: ethernet.Broadcast}); err != nil {
			return nil, err
		}
		deadline := time.Now().Add(wait)
		_ = conn.SetReadDeadline(deadline)
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return nil, err
			}
			var fr ethernet.Frame
			if fr.UnmarshalBinary(buf[:n]) != nil {
				continue
			}
			var p arp.Packet
			if p.UnmarshalBinary(fr.Payload) != nil {
				continue
			}
			if p.Operation == arp.OperationReply && p.SenderIP == addr {
				seen[p.SenderHardwareAddr.String()] = true
			}
		}
	}
	var out []string
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out, nil
}

// listenLink opens a raw packet socket for frames of type et on h's lab link.
func listenLink(h *lab.Host, et ethernet.EtherType) (conn *packet.Conn, ifi *net.Interface, err error) {
	err = h.Do(func() error {
		if ifi, err = net.InterfaceByName(h.Link); err != nil {
			return err
		}
		conn, err = packet.Listen(ifi, packet.Raw, int(et), nil)
		return err
	})
	return conn, ifi, err
}

// httpBodyIn GETs url from inside h's namespace and returns the body.
func httpBodyIn(ctx context.Context, h *lab.Host, url string) (string, error) {
	client := &http.Client{Transport: &http.Transport{DialContext: h.DialContext}, Timeout: 2 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// httpGetIn GETs url from inside h's namespace and returns the status code.
func httpGetIn(ctx context.Context, h *lab.Host, url string) (int, error) {
	client := &http.Client{Transport: &http.Transport{DialContext: h.DialContext}, Timeout: 2 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
