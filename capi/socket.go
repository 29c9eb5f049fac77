package main

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"strings"
	"time"
	"unsafe"

	"github.com/w3sock/w3sock/core"
)

//export w3sgo_tls_options_init
func w3sgo_tls_options_init(o *C.w3s_tls_options) C.int {
	if o == nil {
		return fail(core.Errf(core.EINVAL, "NULL options"))
	}
	*o = C.w3s_tls_options{}
	o.size = C.uint32_t(unsafe.Sizeof(*o))
	o.ca_replace_system = 1
	return 0
}

//export w3sgo_tcp_options_init
func w3sgo_tcp_options_init(o *C.w3s_tcp_options) C.int {
	if o == nil {
		return fail(core.Errf(core.EINVAL, "NULL options"))
	}
	*o = C.w3s_tcp_options{}
	o.size = C.uint32_t(unsafe.Sizeof(*o))
	o.no_delay = 1
	o.address_reuse = 1
	return 0
}

//export w3sgo_udp_options_init
func w3sgo_udp_options_init(o *C.w3s_udp_options) C.int {
	if o == nil {
		return fail(core.Errf(core.EINVAL, "NULL options"))
	}
	*o = C.w3s_udp_options{}
	o.size = C.uint32_t(unsafe.Sizeof(*o))
	o.address_reuse = 1
	o.multicast_ttl = -1
	return 0
}

func tlsOptionsFromC(o *C.w3s_tls_options) (*core.TLSOptions, *core.Error) {
	if o == nil {
		return nil, nil
	}
	var own C.w3s_tls_options
	w3sgo_tls_options_init(&own)
	if e := sizedIn(unsafe.Pointer(&own), unsafe.Sizeof(own), unsafe.Pointer(o), "w3s_tls_options", "call w3s_tls_options_init"); e != nil {
		return nil, e
	}
	o = &own
	t := &core.TLSOptions{
		InsecureSkipVerify: o.insecure_skip_verify != 0,
		ServerName:         goString(o.server_name),
		CAPEM:              goString(o.ca_pem),
		CAReplaceSystem:    o.ca_replace_system != 0,
		CertPEM:            goString(o.cert_pem),
		KeyPEM:             goString(o.key_pem),
		MinVersion:         goString(o.min_version),
		MaxVersion:         goString(o.max_version),
		ClientAuth:         int(o.client_auth),
	}
	if a := goString(o.alpn); a != "" {
		for _, p := range strings.Split(a, ",") {
			t.ALPN = append(t.ALPN, strings.TrimSpace(p))
		}
	}
	return t, nil
}

func tcpOptionsFromC(o *C.w3s_tcp_options) (core.TCPOptions, *core.Error) {
	out := core.DefaultTCPOptions()
	if o == nil {
		return out, nil
	}
	var own C.w3s_tcp_options
	w3sgo_tcp_options_init(&own)
	if e := sizedIn(unsafe.Pointer(&own), unsafe.Sizeof(own), unsafe.Pointer(o), "w3s_tcp_options", "call w3s_tcp_options_init"); e != nil {
		return out, e
	}
	o = &own
	if o.keep_alive_delay_ms < 0 || o.connect_timeout_ms < 0 {
		return out, core.Errf(core.EINVAL, "negative time in options")
	}
	out.LocalAddress = goString(o.local_address)
	out.LocalPort = int(o.local_port)
	out.NoDelay = o.no_delay != 0
	out.KeepAlive = o.keep_alive != 0
	out.KeepAliveDelay = time.Duration(o.keep_alive_delay_ms) * time.Millisecond
	out.ConnectTimeout = time.Duration(o.connect_timeout_ms) * time.Millisecond
	out.SendBufferSize = int(o.send_buffer_size)
	out.ReceiveBufferSize = int(o.receive_buffer_size)
	out.AddressReuse = o.address_reuse != 0
	out.ReusePort = o.reuse_port != 0
	out.Backlog = int(o.backlog)
	out.UseSecureTransport = o.use_secure_transport != 0
	out.HighWaterSend = int64(o.high_water_send)
	out.HighWaterReceive = int64(o.high_water_receive)
	t, e := tlsOptionsFromC(o.tls)
	if e != nil {
		return out, e
	}
	out.TLS = t
	return out, nil
}

func udpOptionsFromC(o *C.w3s_udp_options) (core.UDPOptions, *core.Error) {
	out := core.DefaultUDPOptions()
	if o == nil {
		return out, nil
	}
	var own C.w3s_udp_options
	w3sgo_udp_options_init(&own)
	if e := sizedIn(unsafe.Pointer(&own), unsafe.Sizeof(own), unsafe.Pointer(o), "w3s_udp_options", "call w3s_udp_options_init"); e != nil {
		return out, e
	}
	o = &own
	out.LocalAddress = goString(o.local_address)
	out.LocalPort = int(o.local_port)
	out.RemoteAddress = goString(o.remote_address)
	out.RemotePort = int(o.remote_port)
	out.AddressReuse = o.address_reuse != 0
	out.ReusePort = o.reuse_port != 0
	out.Broadcast = o.broadcast != 0
	out.TTL = int(o.ttl)
	out.MulticastTTL = int(o.multicast_ttl)
	out.MulticastLoopback = o.multicast_loopback != 0
	out.SendBufferSize = int(o.send_buffer_size)
	out.ReceiveBufferSize = int(o.receive_buffer_size)
	out.MulticastInterface = goString(o.multicast_interface)
	out.HighWaterSend = int64(o.high_water_send)
	out.HighWaterReceive = int64(o.high_water_receive)
	return out, nil
}

//export w3sgo_tcp_connect
func w3sgo_tcp_connect(loop C.int64_t, host *C.char, port C.int, opts *C.w3s_tcp_options, userData C.uint64_t) C.int64_t {
	return open(loop, func(l *core.Loop) (*core.Socket, *core.Error) {
		if host == nil {
			return nil, core.Errf(core.EINVAL, "NULL host")
		}
		o, e := tcpOptionsFromC(opts)
		if e != nil {
			return nil, e
		}
		return core.Connect(l, C.GoString(host), int(port), o, uint64(userData))
	})
}

// open makes a socket on a loop: the shared shape of the create calls.
func open(loop C.int64_t, create func(*core.Loop) (*core.Socket, *core.Error)) C.int64_t {
	st, e := loopOf(loop)
	if e != nil {
		return fail64(e)
	}
	s, e := create(st.loop)
	if e != nil {
		return fail64(e)
	}
	return C.int64_t(s.Handle())
}

//export w3sgo_tcp_listen
func w3sgo_tcp_listen(loop C.int64_t, opts *C.w3s_tcp_options, userData C.uint64_t) C.int64_t {
	return open(loop, func(l *core.Loop) (*core.Socket, *core.Error) {
		o, e := tcpOptionsFromC(opts)
		if e != nil {
			return nil, e
		}
		return core.Listen(l, o, uint64(userData))
	})
}

//export w3sgo_udp_open
func w3sgo_udp_open(loop C.int64_t, opts *C.w3s_udp_options, userData C.uint64_t) C.int64_t {
	return open(loop, func(l *core.Loop) (*core.Socket, *core.Error) {
		o, e := udpOptionsFromC(opts)
		if e != nil {
			return nil, e
		}
		return core.OpenUDP(l, o, uint64(userData))
	})
}

//export w3sgo_set_user_data
func w3sgo_set_user_data(h C.int64_t, userData C.uint64_t) C.int {
	s, e := socketOf(h)
	if e != nil {
		return fail(e)
	}
	s.SetUserData(uint64(userData))
	return 0
}

// bytesOf views C memory as a Go slice without copying; core copies what
// it keeps before the call returns.
func bytesOf(data unsafe.Pointer, n C.size_t) ([]byte, *core.Error) {
	if n == 0 {
		return nil, nil
	}
	if data == nil {
		return nil, core.Errf(core.EINVAL, "NULL data with length %d", uint64(n))
	}
	if uint64(n) > 1<<31 {
		return nil, core.Errf(core.EINVAL, "length %d is too large", uint64(n))
	}
	return unsafe.Slice((*byte)(data), int(n)), nil
}

// w3sgo_send is w3s_send's Go half (fastpath.c writes directly when it may).
//
//export w3sgo_send
func w3sgo_send(h C.int64_t, data unsafe.Pointer, n C.size_t) C.int64_t {
	s, e := socketOf(h)
	if e != nil {
		return fail64(e)
	}
	p, e := bytesOf(data, n)
	if e != nil {
		return fail64(e)
	}
	b, e := s.Send(p)
	if e != nil {
		return fail64(e)
	}
	return C.int64_t(b)
}

//export w3sgo_send_to
func w3sgo_send_to(h C.int64_t, data unsafe.Pointer, n C.size_t, address *C.char, port C.int) C.int64_t {
	s, e := socketOf(h)
	if e != nil {
		return fail64(e)
	}
	p, e := bytesOf(data, n)
	if e != nil {
		return fail64(e)
	}
	b, e := s.SendTo(p, goString(address), int(port))
	if e != nil {
		return fail64(e)
	}
	return C.int64_t(b)
}

//export w3sgo_send_file
func w3sgo_send_file(h C.int64_t, path *C.char, offset C.int64_t, n C.int64_t) C.int64_t {
	s, e := socketOf(h)
	if e != nil {
		return fail64(e)
	}
	if path == nil || *path == 0 {
		return fail64(core.Errf(core.EINVAL, "NULL or empty path"))
	}
	b, e := s.SendFile(C.GoString(path), int64(offset), int64(n))
	if e != nil {
		return fail64(e)
	}
	return C.int64_t(b)
}

// simple runs a socket method that returns only an error.
func simple(h C.int64_t, f func(*core.Socket) *core.Error) C.int {
	s, e := socketOf(h)
	if e != nil {
		return fail(e)
	}
	if e := f(s); e != nil {
		return fail(e)
	}
	return 0
}

//export w3sgo_pause
func w3sgo_pause(h C.int64_t) C.int { return simple(h, (*core.Socket).Pause) }

//export w3sgo_resume
func w3sgo_resume(h C.int64_t) C.int { return simple(h, (*core.Socket).Resume) }

//export w3sgo_half_close
func w3sgo_half_close(h C.int64_t) C.int { return simple(h, (*core.Socket).HalfClose) }

//export w3sgo_close
func w3sgo_close(h C.int64_t) C.int { return simple(h, (*core.Socket).Close) }

//export w3sgo_abort
func w3sgo_abort(h C.int64_t) C.int { return simple(h, (*core.Socket).Abort) }

//export w3sgo_start_tls
func w3sgo_start_tls(h C.int64_t, opts *C.w3s_tls_options) C.int {
	return w3sgo_start_tls_with(h, opts, nil, 0)
}

//export w3sgo_start_tls_with
func w3sgo_start_tls_with(h C.int64_t, opts *C.w3s_tls_options, unread unsafe.Pointer, n C.size_t) C.int {
	s, e := socketOf(h)
	if e != nil {
		return fail(e)
	}
	p, e := bytesOf(unread, n)
	if e != nil {
		return fail(e)
	}
	t, e := tlsOptionsFromC(opts)
	if e != nil {
		return fail(e)
	}
	if e := s.StartTLS(t, p); e != nil {
		return fail(e)
	}
	return 0
}

//export w3sgo_udp_set_peer
func w3sgo_udp_set_peer(h C.int64_t, address *C.char, port C.int) C.int {
	return simple(h, func(s *core.Socket) *core.Error { return s.SetPeer(goString(address), int(port)) })
}

// membership joins or leaves group (source: source-specific) on iface.
func membership(h C.int64_t, source, group, iface *C.char, ssm, join bool) C.int {
	if group == nil {
		return fail(core.Errf(core.EINVAL, "NULL group"))
	}
	if ssm && (source == nil || *source == 0) {
		return fail(core.Errf(core.EINVAL, "NULL or empty source"))
	}
	return simple(h, func(s *core.Socket) *core.Error {
		if join {
			return s.JoinGroup(C.GoString(group), goString(source), goString(iface))
		}
		return s.LeaveGroup(C.GoString(group), goString(source), goString(iface))
	})
}

//export w3sgo_join_group
func w3sgo_join_group(h C.int64_t, group, iface *C.char) C.int {
	return membership(h, nil, group, iface, false, true)
}

//export w3sgo_leave_group
func w3sgo_leave_group(h C.int64_t, group, iface *C.char) C.int {
	return membership(h, nil, group, iface, false, false)
}

//export w3sgo_join_source_group
func w3sgo_join_source_group(h C.int64_t, source, group, iface *C.char) C.int {
	return membership(h, source, group, iface, true, true)
}

//export w3sgo_leave_source_group
func w3sgo_leave_source_group(h C.int64_t, source, group, iface *C.char) C.int {
	return membership(h, source, group, iface, true, false)
}

func arrayArgs(out unsafe.Pointer, max C.int) *core.Error {
	if max < 0 || max > 0 && out == nil {
		return core.Errf(core.EINVAL, "NULL array with max %d", int(max))
	}
	return nil
}

// groupSizeV1 and interfaceSizeV1 are the first ABI's element sizes.
const (
	groupSizeV1     = C.W3S_GROUP_SIZE_V1
	interfaceSizeV1 = C.W3S_INTERFACE_SIZE_V1
)

//export w3sgo_get_joined_groups
func w3sgo_get_joined_groups(h C.int64_t, out *C.w3s_group, max C.int) C.int {
	return w3sgo_get_joined_groups_sized(h, out, max, groupSizeV1)
}

//export w3sgo_get_joined_groups_sized
func w3sgo_get_joined_groups_sized(h C.int64_t, out *C.w3s_group, max C.int, elemSize C.size_t) C.int {
	s, e := socketOf(h)
	if e != nil {
		return fail(e)
	}
	if e := arrayArgs(unsafe.Pointer(out), max); e != nil {
		return fail(e)
	}
	if e := elemSizeOK(uintptr(elemSize), groupSizeV1, "w3s_group"); e != nil {
		return fail(e)
	}
	groups, e := s.JoinedGroups()
	if e != nil {
		return fail(e)
	}
	return fillArray(unsafe.Pointer(out), max, uintptr(elemSize), groups, func(d *C.w3s_group, g core.Membership) {
		copyCString(d.group[:], g.Group.String())
		if g.Source.IsValid() {
			copyCString(d.source[:], g.Source.String())
		}
		d.iface = C.uint32_t(g.Iface)
	})
}

//export w3sgo_set_option
func w3sgo_set_option(h C.int64_t, opt C.int, value C.int64_t) C.int {
	return simple(h, func(s *core.Socket) *core.Error { return s.SetOption(core.Option(opt), int64(value)) })
}

//export w3sgo_get_option
func w3sgo_get_option(h C.int64_t, opt C.int, value *C.int64_t) C.int {
	s, e := socketOf(h)
	if e != nil {
		return fail(e)
	}
	if value == nil {
		return fail(core.Errf(core.EINVAL, "NULL value"))
	}
	v, e := s.GetOption(core.Option(opt))
	if e != nil {
		return fail(e)
	}
	*value = C.int64_t(v)
	return 0
}

func b32(b bool) C.int32_t {
	if b {
		return 1
	}
	return 0
}

//export w3sgo_get_info
func w3sgo_get_info(h C.int64_t, info *C.w3s_info) C.int {
	s, e := socketOf(h)
	if e != nil {
		return fail(e)
	}
	if info == nil {
		return fail(core.Errf(core.EINVAL, "w3s_get_info needs a w3s_info with size set"))
	}
	if _, e := callerSize(unsafe.Pointer(info), "w3s_info", "set it to sizeof(w3s_info)"); e != nil {
		return fail(e)
	}
	in := s.Info()
	// Filled in a whole struct of this library's layout, then the caller's
	// size of it is copied out (sizedOut).
	dst := info
	info = &C.w3s_info{}
	info.size = C.uint32_t(unsafe.Sizeof(*info))
	info.kind = C.int32_t(in.Kind)
	info.ready_state = C.int32_t(in.State)
	info.family = C.int32_t(in.Family)
	copyCString(info.local_address[:], in.LocalAddress)
	info.local_port = C.int32_t(in.LocalPort)
	copyCString(info.remote_address[:], in.RemoteAddress)
	info.remote_port = C.int32_t(in.RemotePort)
	info.buffered_amount = C.int64_t(in.BufferedAmount)
	info.bytes_received = C.uint64_t(in.BytesReceived)
	info.bytes_sent = C.uint64_t(in.BytesSent)
	info.messages_received = C.uint64_t(in.MessagesReceived)
	info.messages_sent = C.uint64_t(in.MessagesSent)
	info.messages_dropped = C.uint64_t(in.MessagesDropped)
	info.paused = b32(in.Paused)
	info.peer_ended = b32(in.PeerEnded)
	info.rtt_us = C.int64_t(in.RTTMicros)
	info.secure = b32(in.Secure)
	copyCString(info.tls_version[:], in.TLS.Version)
	copyCString(info.tls_cipher[:], in.TLS.Cipher)
	copyCString(info.alpn[:], in.TLS.ALPN)
	copyCString(info.server_name[:], in.TLS.ServerName)
	copyCString(info.peer_subject[:], in.TLS.PeerSubject)
	copyCString(info.peer_issuer[:], in.TLS.PeerIssuer)
	if e := sizedOut(unsafe.Pointer(dst), unsafe.Pointer(info), unsafe.Sizeof(*info), "w3s_info", "set it to sizeof(w3s_info)"); e != nil {
		return fail(e)
	}
	return 0
}

//export w3sgo_network_list
func w3sgo_network_list(out *C.w3s_interface, max C.int) C.int {
	return w3sgo_network_list_sized(out, max, interfaceSizeV1)
}

//export w3sgo_network_list_sized
func w3sgo_network_list_sized(out *C.w3s_interface, max C.int, elemSize C.size_t) C.int {
	if e := guard(); e != nil {
		return fail(e)
	}
	if e := arrayArgs(unsafe.Pointer(out), max); e != nil {
		return fail(e)
	}
	if e := elemSizeOK(uintptr(elemSize), interfaceSizeV1, "w3s_interface"); e != nil {
		return fail(e)
	}
	list, e := core.NetworkList()
	if e != nil {
		return fail(e)
	}
	return fillArray(unsafe.Pointer(out), max, uintptr(elemSize), list, func(d *C.w3s_interface, a core.InterfaceAddr) {
		copyCString(d.name[:], a.Name)
		copyCString(d.address[:], a.Address)
		d.index = C.uint32_t(a.Index)
		d.flags = C.uint32_t(a.Flags)
		d.prefix_length = C.int32_t(a.PrefixLength)
		d.family = C.int32_t(a.Family)
	})
}
