"""Great Expectations: the suites (JSON, reviewed like code), running them, the drift alarm."""
