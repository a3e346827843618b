package jobs

import (
	"github.com/riverqueue/river"
)

// withDelivery adds the sink deliveries (their queue, workers and periodic
// cleanup, see package delivery) to cfg when the deps carry the delivery
// service.
func withDelivery(d Deps, cfg *river.Config) *river.Config {
	if d.Delivery != nil {
		d.Delivery.Register(cfg)
	}
	return cfg
}
