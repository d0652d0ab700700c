// The hub-layout converter lives here (in progress).
