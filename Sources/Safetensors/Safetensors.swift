// The safetensors reader and writer live here (in progress).
