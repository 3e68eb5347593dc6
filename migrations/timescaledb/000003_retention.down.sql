DROP FUNCTION IF EXISTS ops.apply_retention(regclass, interval);
