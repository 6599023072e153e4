int jetrecv_core_placeholder = 0;
