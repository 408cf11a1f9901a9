# The plugin harness (fuzz_clustering.cpp), standalone fuzz build: the
# plugin's sources (faiss_bridge/*.cpp) built as a shared library with the
# fuzzer's instrumentation, linked into the harness ahead of the shared
# libfaiss.so of scripts/build_faiss_local.sh, so that Clustering::train
# resolves to the plugin as under LD_PRELOAD.
set(FKM_FAISS_PREFIX ${FKM_ROOT}/.deps/faiss CACHE PATH "Shared FAISS (build_faiss_local.sh)")
find_library(FKM_FAISS_SO NAMES faiss PATHS ${FKM_FAISS_PREFIX}/lib NO_DEFAULT_PATH)
find_path(FKM_FAISS_INCLUDE faiss/Clustering.h)
if(NOT FKM_FAISS_SO OR NOT FKM_FAISS_INCLUDE)
  message(STATUS "flashkm fuzz: no shared libfaiss.so in ${FKM_FAISS_PREFIX}/lib: "
                 "plugin harness not built")
  return()
endif()
file(GLOB FKM_BRIDGE_SOURCES CONFIGURE_DEPENDS ${FKM_ROOT}/faiss_bridge/*.cpp)
add_library(fkm_fuzz_plugin SHARED ${FKM_BRIDGE_SOURCES})
target_include_directories(fkm_fuzz_plugin PRIVATE ${FKM_FAISS_INCLUDE} ${FKM_ROOT}/faiss_bridge)
target_compile_options(fkm_fuzz_plugin PRIVATE
  -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,${FKM_SAN}
  -fno-sanitize-recover=all)
target_link_libraries(fkm_fuzz_plugin PRIVATE fkm_fuzz_lib ${CMAKE_DL_LIBS})
target_link_options(fkm_fuzz_plugin PRIVATE
  -Wl,--version-script=${FKM_ROOT}/faiss_bridge/exports.map)

add_executable(flashkm_fuzz_clustering fuzz_clustering.cpp)
target_include_directories(flashkm_fuzz_clustering PRIVATE ${FKM_FAISS_INCLUDE}
                                                         ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_options(flashkm_fuzz_clustering PRIVATE ${FKM_HARNESS_FLAGS})
target_link_options(flashkm_fuzz_clustering PRIVATE ${FKM_HARNESS_LINK} -Wl,--no-as-needed)
get_filename_component(_faiss_dir ${FKM_FAISS_SO} DIRECTORY)
target_link_libraries(flashkm_fuzz_clustering PRIVATE fkm_fuzz_plugin ${FKM_FAISS_SO}
                                                      ${CMAKE_DL_LIBS})
set_target_properties(flashkm_fuzz_clustering PROPERTIES BUILD_RPATH "${_faiss_dir}")
add_test(NAME fuzz_clustering_corpus_libfuzzer
         COMMAND flashkm_fuzz_clustering -runs=0 ${FKM_CORPUS}/clustering)
set_tests_properties(fuzz_clustering_corpus_libfuzzer PROPERTIES TIMEOUT 300
  ENVIRONMENT "OMP_NUM_THREADS=1")
