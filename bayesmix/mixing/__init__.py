"""How the mixture weights arise: finite Dirichlet weights, Dirichlet-process stick-breaking, the MDN's network."""
