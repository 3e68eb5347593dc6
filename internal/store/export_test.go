package store

// RegisterDecimal lets tests build a pool of their own (with a tracer that
// shows which load path ran) and wrap it with New.
var RegisterDecimal = registerDecimal
