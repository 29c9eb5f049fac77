package core

import "net"

// Interface flags match W3S_IF_*.
const (
	IfUp        = 1
	IfLoopback  = 2
	IfMulticast = 4
	IfBroadcast = 8
)

// InterfaceAddr is one address of one interface (an interface without
// addresses appears once with an empty Address).
type InterfaceAddr struct {
	Name         string
	Index        int
	Flags        uint32
	Address      string
	PrefixLength int // -1 without an address
	Family       int // 4, 6, 0
}

// NetworkList lists every interface address of the host.
func NetworkList() ([]InterfaceAddr, *Error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, AsError(err)
	}
	var out []InterfaceAddr
	for _, ifi := range ifs {
		var fl uint32
		if ifi.Flags&net.FlagUp != 0 {
			fl |= IfUp
		}
		if ifi.Flags&net.FlagLoopback != 0 {
			fl |= IfLoopback
		}
		if ifi.Flags&net.FlagMulticast != 0 {
			fl |= IfMulticast
		}
		if ifi.Flags&net.FlagBroadcast != 0 {
			fl |= IfBroadcast
		}
		addrs, _ := ifi.Addrs()
		n := 0
		for _, a := range addrs {
			pn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ones, _ := pn.Mask.Size()
			fam := 6
			if pn.IP.To4() != nil {
				fam = 4
			}
			zone := ""
			if fam == 6 && pn.IP.IsLinkLocalUnicast() {
				zone = ifi.Name
			}
			out = append(out, InterfaceAddr{Name: ifi.Name, Index: ifi.Index, Flags: fl,
				Address: addrString(pn.IP, zone), PrefixLength: ones, Family: fam})
			n++
		}
		if n == 0 {
			out = append(out, InterfaceAddr{Name: ifi.Name, Index: ifi.Index, Flags: fl, PrefixLength: -1})
		}
	}
	return out, nil
}
