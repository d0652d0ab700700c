// The BLT engine lives here (in progress).
