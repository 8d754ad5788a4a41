package fake

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"

	rescuefake "github.com/cto-platform/cto/internal/provider/hetzner/rescue/fake"
)

func (f *Fake) route(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case parts[0] == "server":
		f.routeServer(w, r, parts)
	case parts[0] == "boot" && len(parts) == 3 && parts[2] == "rescue":
		if s := f.server(w, parts[1]); s != nil {
			f.routeRescue(w, r, s)
		}
	case parts[0] == "reset" && len(parts) == 2 && r.Method == http.MethodPost:
		if s := f.server(w, parts[1]); s != nil {
			f.reset(w, r, s)
		}
	case parts[0] == "vswitch":
		f.routeVSwitch(w, r, parts)
	case parts[0] == "order":
		f.routeOrder(w, r, parts)
	default:
		robotError(w, http.StatusNotFound, "NOT_FOUND", "Not found")
	}
}

func serverJSON(s *Server) map[string]any {
	return map[string]any{"server": map[string]any{
		"server_ip": s.IP, "server_ipv6_net": "2a01:4f8::", "server_number": s.Number, "server_name": s.Name,
		"product": s.Product, "dc": s.DC, "traffic": "unlimited", "status": s.Status, "cancelled": s.Cancelled,
		"paid_until": "2026-12-31", "ip": []string{s.IP}, "subnet": nil,
	}}
}

func (f *Fake) server(w http.ResponseWriter, num string) *Server {
	n, _ := strconv.Atoi(num)
	s, ok := f.servers[n]
	if !ok {
		robotError(w, http.StatusNotFound, "SERVER_NOT_FOUND", "Server with id "+num+" not found")
		return nil
	}
	return s
}

func (f *Fake) routeServer(w http.ResponseWriter, r *http.Request, parts []string) {
	if len(parts) == 1 && r.Method == http.MethodGet {
		if len(f.servers) == 0 {
			robotError(w, http.StatusNotFound, "SERVER_NOT_FOUND", "No server found")
			return
		}
		var out []map[string]any
		for _, n := range sortedInts(f.servers) {
			out = append(out, serverJSON(f.servers[n]))
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	if len(parts) < 2 {
		robotError(w, http.StatusNotFound, "NOT_FOUND", "Not found")
		return
	}
	s := f.server(w, parts[1])
	if s == nil {
		return
	}
	switch {
	case len(parts) == 2 && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, serverJSON(s))
	case len(parts) == 2 && r.Method == http.MethodPost:
		name, ok := r.PostForm["server_name"]
		if !ok {
			robotError(w, http.StatusBadRequest, "INVALID_INPUT", "server_name is missing")
			return
		}
		s.Name = name[0]
		writeJSON(w, http.StatusOK, serverJSON(s))
	case len(parts) == 3 && parts[2] == "cancellation" && r.Method == http.MethodPost:
		// Recorded so tests can prove cto never asks for it.
		s.Cancellations++
		s.Cancelled = true
		writeJSON(w, http.StatusOK, map[string]any{"cancellation": map[string]any{"server_number": s.Number, "cancelled": true}})
	default:
		robotError(w, http.StatusNotFound, "NOT_FOUND", "Not found")
	}
}

func (f *Fake) routeRescue(w http.ResponseWriter, r *http.Request, s *Server) {
	resp := func() {
		keys := []map[string]any{}
		if s.RescueKey != "" {
			keys = append(keys, map[string]any{"key": map[string]any{"name": "key", "fingerprint": s.RescueKey, "type": "ED25519", "size": 256}})
		}
		var pw any
		if s.RescueActive && s.RescueKey == "" {
			pw = "rescue-" + strconv.Itoa(s.Number)
		}
		writeJSON(w, http.StatusOK, map[string]any{"rescue": map[string]any{
			"server_ip": s.IP, "server_number": s.Number, "os": "linux", "active": s.RescueActive,
			"password": pw, "authorized_key": keys, "host_key": []any{},
		}})
	}
	switch r.Method {
	case http.MethodGet:
		resp()
	case http.MethodPost:
		if s.RescueActive {
			robotError(w, http.StatusConflict, "BOOT_ALREADY_ENABLED", "Boot configuration already enabled")
			return
		}
		if os := r.PostForm.Get("os"); os != "linux" {
			robotError(w, http.StatusBadRequest, "INVALID_INPUT", "invalid os")
			return
		}
		fp := r.PostForm.Get("authorized_key[]")
		if fp != "" {
			if _, ok := f.keys[fp]; !ok {
				robotError(w, http.StatusNotFound, "KEY_NOT_FOUND", "Key with fingerprint "+fp+" not found")
				return
			}
		}
		s.RescueActive, s.RescueKey = true, fp
		resp()
	case http.MethodDelete:
		s.RescueActive, s.RescueKey = false, ""
		resp()
	default:
		robotError(w, http.StatusNotFound, "NOT_FOUND", "Not found")
	}
}

func (f *Fake) reset(w http.ResponseWriter, r *http.Request, s *Server) {
	typ := r.PostForm.Get("type")
	if typ != "hw" && typ != "sw" && typ != "power" {
		robotError(w, http.StatusBadRequest, "INVALID_INPUT", "invalid type")
		return
	}
	s.Resets++
	if s.Booted == "talos" {
		f.queue(f.opts.OnStopped, s)
	}
	s.Booted = "booting"
	s.bootAt = f.clock.Now().Add(bootTime)
	if s.RescueActive && s.ssh == nil {
		srv := s
		machine := s.machine
		addr := "127.0.0.1:0"
		if f.opts.RescuePort > 0 {
			addr = net.JoinHostPort(s.IP, strconv.Itoa(f.opts.RescuePort))
		}
		ssrv, err := rescuefake.StartAt(addr, machine, func(user, password string, key ssh.PublicKey) bool {
			f.mu.Lock()
			defer f.mu.Unlock()
			if user != "root" || srv.Booted != "rescue" || key == nil {
				return false
			}
			return fingerprint(key) == srv.RescueKey
		}, func() bool {
			defer f.door.Hooks.Run(&f.mu)
			f.mu.Lock()
			defer f.mu.Unlock()
			f.progress()
			if srv.Booted == "rescue" && f.failNext {
				f.failNext = false
				machine.FailNextWrite()
			}
			return srv.Booted == "rescue"
		})
		if err != nil {
			robotError(w, http.StatusInternalServerError, "INTERNAL_ERROR", err.Error())
			return
		}
		s.ssh = ssrv
		machine.OnReboot(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			srv.Booted = "booting"
			srv.bootAt = f.clock.Now().Add(bootTime)
			if f.opts.OnBooted != nil {
				// Someone waits for the server to come up: it does
				// when its time comes, whether or not a request
				// arrives then.
				go func() {
					f.clock.Sleep(context.Background(), bootTime)
					f.mu.Lock()
					f.progress()
					f.mu.Unlock()
					f.door.Hooks.Run(&f.mu)
				}()
			}
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"reset": map[string]any{"server_ip": s.IP, "server_number": s.Number, "type": typ}})
}

func (f *Fake) vswitchJSON(v *vswitch, withServers bool) map[string]any {
	out := map[string]any{"id": v.ID, "name": v.Name, "vlan": v.VLAN, "cancelled": v.Cancelled}
	if withServers {
		servers := []map[string]any{}
		for _, n := range sortedInts(v.Members) {
			ip := ""
			if s, ok := f.servers[n]; ok {
				ip = s.IP
			}
			servers = append(servers, map[string]any{"server_ip": ip, "server_ipv6_net": "2a01:4f8::", "server_number": n, "status": v.Members[n]})
		}
		out["server"], out["subnet"], out["cloud_network"] = servers, []any{}, []any{}
	}
	return out
}

func (f *Fake) routeVSwitch(w http.ResponseWriter, r *http.Request, parts []string) {
	if len(parts) == 1 {
		switch r.Method {
		case http.MethodGet:
			out := []map[string]any{}
			for _, id := range sortedInts(f.vswitches) {
				out = append(out, f.vswitchJSON(f.vswitches[id], false))
			}
			writeJSON(w, http.StatusOK, out)
		case http.MethodPost:
			vlan, err := strconv.Atoi(r.PostForm.Get("vlan"))
			if err != nil || vlan < 4000 || vlan > 4091 || r.PostForm.Get("name") == "" {
				robotError(w, http.StatusBadRequest, "INVALID_INPUT", "name and a vlan between 4000 and 4091 are required")
				return
			}
			for _, v := range f.vswitches {
				if v.VLAN == vlan && !v.Cancelled {
					robotError(w, http.StatusConflict, "VSWITCH_VLAN_NOT_UNIQUE", "VLAN already in use")
					return
				}
			}
			f.nextID++
			v := &vswitch{ID: f.nextID, Name: r.PostForm.Get("name"), VLAN: vlan, Members: map[int]string{}}
			f.vswitches[v.ID] = v
			writeJSON(w, http.StatusCreated, f.vswitchJSON(v, true))
		default:
			robotError(w, http.StatusNotFound, "NOT_FOUND", "Not found")
		}
		return
	}
	id, _ := strconv.Atoi(parts[1])
	v, ok := f.vswitches[id]
	if !ok {
		robotError(w, http.StatusNotFound, "NOT_FOUND", "vSwitch not found")
		return
	}
	busy := f.clock.Now().Before(v.busyUntil)
	switch {
	case len(parts) == 2 && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, f.vswitchJSON(v, true))
	case len(parts) == 2 && r.Method == http.MethodDelete:
		if busy {
			robotError(w, http.StatusConflict, "VSWITCH_IN_PROCESS", "There is an update running for this vSwitch")
			return
		}
		v.Cancelled = true
		v.Members = map[int]string{}
		w.WriteHeader(http.StatusOK)
	case len(parts) == 3 && parts[2] == "server" && (r.Method == http.MethodPost || r.Method == http.MethodDelete):
		if busy {
			robotError(w, http.StatusConflict, "VSWITCH_IN_PROCESS", "There is an update running for this vSwitch")
			return
		}
		for _, num := range r.PostForm["server[]"] {
			n, _ := strconv.Atoi(num)
			if _, ok := f.servers[n]; !ok {
				robotError(w, http.StatusNotFound, "SERVER_NOT_FOUND", "Server "+num+" not found")
				return
			}
			if r.Method == http.MethodPost {
				if _, ok := v.Members[n]; ok {
					robotError(w, http.StatusConflict, "VSWITCH_SERVER_ALREADY_ADDED", "Server already added")
					return
				}
				v.Members[n] = "processing"
			} else {
				delete(v.Members, n)
			}
		}
		v.busyUntil = f.clock.Now().Add(vswitchTime)
		w.WriteHeader(http.StatusCreated)
	default:
		robotError(w, http.StatusNotFound, "NOT_FOUND", "Not found")
	}
}

func (f *Fake) routeOrder(w http.ResponseWriter, r *http.Request, parts []string) {
	path := strings.Join(parts, "/")
	switch {
	case path == "order/server/product" && r.Method == http.MethodGet:
		var out []map[string]any
		for _, p := range f.products {
			var locs []string
			var prices []map[string]any
			for _, loc := range []string{"FSN1", "HEL1", "NBG1"} {
				m, offered := p.Monthly[loc]
				if !offered {
					continue
				}
				if p.InStock[loc] {
					locs = append(locs, loc)
				}
				prices = append(prices, map[string]any{"location": loc,
					"price":       map[string]string{"net": fmt.Sprintf("%.4f", m), "gross": fmt.Sprintf("%.4f", m*1.19)},
					"price_setup": map[string]string{"net": fmt.Sprintf("%.4f", p.Setup), "gross": fmt.Sprintf("%.4f", p.Setup*1.19)}})
			}
			out = append(out, map[string]any{"product": map[string]any{"id": p.ID, "name": p.Name, "description": p.Description,
				"traffic": "unlimited", "dist": []string{"Rescue system"}, "arch": []int{64}, "lang": []string{"en"},
				"location": locs, "prices": prices, "orderable_addons": []any{}}})
		}
		writeJSON(w, http.StatusOK, out)
	case (path == "order/server/transaction" || path == "order/server_market/transaction") && r.Method == http.MethodGet:
		var out []map[string]any
		for _, tx := range f.transactions {
			if tx.Auction == (parts[1] == "server_market") {
				out = append(out, txJSON(tx))
			}
		}
		if len(out) == 0 {
			robotError(w, http.StatusNotFound, "NOT_FOUND", "No transactions found")
			return
		}
		writeJSON(w, http.StatusOK, out)
	case (path == "order/server/transaction" || path == "order/server_market/transaction") && r.Method == http.MethodPost:
		f.order(w, r, path == "order/server_market/transaction")
	case len(parts) == 4 && (parts[1] == "server" || parts[1] == "server_market") && parts[2] == "transaction" && r.Method == http.MethodGet:
		tx, ok := f.transactions[parts[3]]
		if !ok {
			robotError(w, http.StatusNotFound, "TRANSACTION_NOT_FOUND", "Transaction not found")
			return
		}
		writeJSON(w, http.StatusOK, txJSON(tx))
	default:
		robotError(w, http.StatusNotFound, "NOT_FOUND", "Not found")
	}
}

func txJSON(tx *transaction) map[string]any {
	var number any
	if tx.Server != 0 {
		number = tx.Server
	}
	return map[string]any{"transaction": map[string]any{"id": tx.ID, "status": tx.Status, "server_number": number, "server_ip": nil,
		"comment": tx.Comment, "product": map[string]any{"id": tx.Product}, "authorized_key": []any{}, "host_key": []any{}}}
}

func (f *Fake) order(w http.ResponseWriter, r *http.Request, auction bool) {
	productID, loc := r.PostForm.Get("product_id"), r.PostForm.Get("location")
	if r.PostForm.Get("test") == "true" {
		robotError(w, http.StatusBadRequest, "INVALID_INPUT", "test orders are not simulated here")
		return
	}
	product := "AX42"
	if !auction {
		var found *Product
		for _, p := range f.products {
			if p.ID == productID {
				found = p
			}
		}
		if found == nil {
			robotError(w, http.StatusNotFound, "PRODUCT_NOT_FOUND", "Product "+productID+" not found")
			return
		}
		if !found.InStock[loc] {
			robotError(w, http.StatusConflict, "PRODUCT_NOT_AVAILABLE", "Product "+productID+" is not available at "+loc)
			return
		}
		product = found.ID
	} else {
		loc = "FSN1"
	}
	f.nextID++
	tx := &transaction{ID: fmt.Sprintf("B20260101-%d", f.nextID), Status: "in process", Product: product, Location: loc,
		Comment: r.PostForm.Get("comment"), Auction: auction, readyAt: f.clock.Now().Add(deliveryTime)}
	f.transactions[tx.ID] = tx
	writeJSON(w, http.StatusCreated, txJSON(tx))
}
