# PILOTFISH_SANITIZE=ON: AddressSanitizer + UndefinedBehaviorSanitizer on every target.
# Any report aborts the process (halt_on_error / -fno-sanitize-recover), so a test that
# triggers one fails.
function(pilotfish_apply_sanitizers target)
  if(PILOTFISH_SANITIZE)
    set(_f -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
    target_compile_options(${target} INTERFACE ${_f})
    target_link_options(${target} INTERFACE ${_f})
  endif()
endfunction()
