"""Placement: the cluster map (sites, zones, nodes, weights, node state) and
the ring that picks the nodes of each stripe across failure domains and
orders them for reads. Pure computation, no I/O."""
