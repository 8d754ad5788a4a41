package robot

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/cto-platform/cto/internal/provider"
)

// Server is a dedicated server as GET /server reports it.
type Server struct {
	IP        string `json:"server_ip"`
	IPv6Net   string `json:"server_ipv6_net"`
	Number    int    `json:"server_number"`
	Name      string `json:"server_name"`
	Product   string `json:"product"`
	DC        string `json:"dc"`
	Status    string `json:"status"`
	Cancelled bool   `json:"cancelled"`
	PaidUntil string `json:"paid_until"`
}

// Servers lists the account's servers (Robot answers 404 for none).
func (c *Client) Servers(ctx context.Context) ([]Server, error) {
	var raw []struct {
		Server Server `json:"server"`
	}
	err := c.do(ctx, http.MethodGet, "/server", nil, &raw)
	if errors.Is(err, provider.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]Server, 0, len(raw))
	for _, r := range raw {
		out = append(out, r.Server)
	}
	return out, nil
}

// Server returns one server.
func (c *Client) Server(ctx context.Context, number int) (Server, error) {
	var raw struct {
		Server Server `json:"server"`
	}
	err := c.do(ctx, http.MethodGet, "/server/"+strconv.Itoa(number), nil, &raw)
	return raw.Server, err
}

// RenameServer sets a server's name.
func (c *Client) RenameServer(ctx context.Context, number int, name string) (Server, error) {
	var raw struct {
		Server Server `json:"server"`
	}
	err := c.do(ctx, http.MethodPost, "/server/"+strconv.Itoa(number), url.Values{"server_name": {name}}, &raw)
	return raw.Server, err
}

// Rescue is a server's rescue boot configuration.
type Rescue struct {
	ServerNumber int     `json:"server_number"`
	Active       bool    `json:"active"`
	Password     *string `json:"password"`
}

// ActivateRescue makes the next boot start the Linux rescue system, which
// admits the key with fingerprint (when given).
func (c *Client) ActivateRescue(ctx context.Context, number int, fingerprint string) (Rescue, error) {
	form := url.Values{"os": {"linux"}}
	if fingerprint != "" {
		form.Set("authorized_key[]", fingerprint)
	}
	var raw struct {
		Rescue Rescue `json:"rescue"`
	}
	err := c.do(ctx, http.MethodPost, "/boot/"+strconv.Itoa(number)+"/rescue", form, &raw)
	return raw.Rescue, err
}

// DeactivateRescue drops a pending rescue boot.
func (c *Client) DeactivateRescue(ctx context.Context, number int) error {
	return c.do(ctx, http.MethodDelete, "/boot/"+strconv.Itoa(number)+"/rescue", nil, nil)
}

// Reset restarts a server: "hw" presses the reset button.
func (c *Client) Reset(ctx context.Context, number int, kind string) error {
	return c.do(ctx, http.MethodPost, "/reset/"+strconv.Itoa(number), url.Values{"type": {kind}}, nil)
}

// Price is an amount in EUR, net and with VAT.
type Price struct {
	Net   string `json:"net"`
	Gross string `json:"gross"`
}

// ProductPrice is a product's price at one location.
type ProductPrice struct {
	Location   string `json:"location"`
	Price      Price  `json:"price"`
	PriceSetup Price  `json:"price_setup"`
}

// Product is an orderable server model.
type Product struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Description []string       `json:"description"`
	Traffic     string         `json:"traffic"`
	Location    []string       `json:"location"`
	Prices      []ProductPrice `json:"prices"`
}

// Products lists the standard server products.
func (c *Client) Products(ctx context.Context) ([]Product, error) {
	var raw []struct {
		Product Product `json:"product"`
	}
	if err := c.do(ctx, http.MethodGet, "/order/server/product", nil, &raw); err != nil {
		return nil, err
	}
	out := make([]Product, 0, len(raw))
	for _, r := range raw {
		out = append(out, r.Product)
	}
	return out, nil
}

// Transaction is an order.
type Transaction struct {
	ID           string  `json:"id"`
	Status       string  `json:"status"`
	ServerNumber *int    `json:"server_number"`
	ServerIP     *string `json:"server_ip"`
	Comment      *string `json:"comment"`
}

// OrderProduct orders a standard product at a location. Robot bills it from
// the moment it is delivered.
func (c *Client) OrderProduct(ctx context.Context, productID, location, fingerprint, comment string) (Transaction, error) {
	return c.order(ctx, "/order/server/transaction", url.Values{"product_id": {productID}, "location": {location}}, fingerprint, comment)
}

// OrderAuction buys a server from the server auction by its number there.
func (c *Client) OrderAuction(ctx context.Context, auctionID int, fingerprint, comment string) (Transaction, error) {
	return c.order(ctx, "/order/server_market/transaction", url.Values{"product_id": {strconv.Itoa(auctionID)}}, fingerprint, comment)
}

func (c *Client) order(ctx context.Context, path string, form url.Values, fingerprint, comment string) (Transaction, error) {
	form.Set("comment", comment)
	if fingerprint != "" {
		form.Set("authorized_key[]", fingerprint)
	}
	var raw struct {
		Transaction Transaction `json:"transaction"`
	}
	err := c.do(ctx, http.MethodPost, path, form, &raw)
	return raw.Transaction, err
}

// Transactions lists the orders of the last 30 days; auction orders live
// apart.
func (c *Client) Transactions(ctx context.Context, auction bool) ([]Transaction, error) {
	path := "/order/server/transaction"
	if auction {
		path = "/order/server_market/transaction"
	}
	var raw []struct {
		Transaction Transaction `json:"transaction"`
	}
	err := c.do(ctx, http.MethodGet, path, nil, &raw)
	if errors.Is(err, provider.ErrNotFound) {
		return nil, nil
	}
	out := make([]Transaction, 0, len(raw))
	for _, r := range raw {
		out = append(out, r.Transaction)
	}
	return out, err
}

// GetTransaction returns an order's state; auction orders live apart.
func (c *Client) GetTransaction(ctx context.Context, id string, auction bool) (Transaction, error) {
	path := "/order/server/transaction/"
	if auction {
		path = "/order/server_market/transaction/"
	}
	var raw struct {
		Transaction Transaction `json:"transaction"`
	}
	err := c.do(ctx, http.MethodGet, path+url.PathEscape(id), nil, &raw)
	return raw.Transaction, err
}

// VSwitch is a VLAN between dedicated servers.
type VSwitch struct {
	ID        int             `json:"id"`
	Name      string          `json:"name"`
	VLAN      int             `json:"vlan"`
	Cancelled bool            `json:"cancelled"`
	Servers   []VSwitchServer `json:"server"`
}

// VSwitchServer is a server's membership of a vSwitch.
type VSwitchServer struct {
	IP     string `json:"server_ip"`
	Number int    `json:"server_number"`
	Status string `json:"status"` // ready, processing, failed
}

// VSwitches lists the account's vSwitches (without their servers).
func (c *Client) VSwitches(ctx context.Context) ([]VSwitch, error) {
	var out []VSwitch
	err := c.do(ctx, http.MethodGet, "/vswitch", nil, &out)
	return out, err
}

// VSwitch returns one vSwitch with its servers.
func (c *Client) VSwitch(ctx context.Context, id int) (VSwitch, error) {
	var out VSwitch
	err := c.do(ctx, http.MethodGet, "/vswitch/"+strconv.Itoa(id), nil, &out)
	return out, err
}

// CreateVSwitch creates a vSwitch on a VLAN id (4000-4091).
func (c *Client) CreateVSwitch(ctx context.Context, name string, vlan int) (VSwitch, error) {
	var out VSwitch
	err := c.do(ctx, http.MethodPost, "/vswitch", url.Values{"name": {name}, "vlan": {strconv.Itoa(vlan)}}, &out)
	return out, err
}

// AddToVSwitch connects servers to a vSwitch.
func (c *Client) AddToVSwitch(ctx context.Context, id int, numbers ...int) error {
	return c.do(ctx, http.MethodPost, "/vswitch/"+strconv.Itoa(id)+"/server", serverForm(numbers), nil)
}

// RemoveFromVSwitch disconnects servers from a vSwitch.
func (c *Client) RemoveFromVSwitch(ctx context.Context, id int, numbers ...int) error {
	return c.do(ctx, http.MethodDelete, "/vswitch/"+strconv.Itoa(id)+"/server", serverForm(numbers), nil)
}

// CancelVSwitch ends a vSwitch now (vSwitches cost nothing).
func (c *Client) CancelVSwitch(ctx context.Context, id int) error {
	return c.do(ctx, http.MethodDelete, "/vswitch/"+strconv.Itoa(id), url.Values{"cancellation_date": {"now"}}, nil)
}

func serverForm(numbers []int) url.Values {
	form := url.Values{}
	for _, n := range numbers {
		form.Add("server[]", strconv.Itoa(n))
	}
	return form
}
