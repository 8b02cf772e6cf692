"""From data to pictures: the view value, the query engine, charts, SVG, browse tables."""
