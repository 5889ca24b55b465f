#include <hdf5.h>

// HDF5's type and flag names are macros that call into the library, which Swift cannot
// import: these functions stand for them.
static inline hid_t swiftcaffe_h5_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline unsigned swiftcaffe_h5_read_only(void) { return H5F_ACC_RDONLY; }
static inline unsigned swiftcaffe_h5_truncate(void) { return H5F_ACC_TRUNC; }
// Errors are reported by SwiftCaffe; HDF5's own stack dumps on stderr are switched off.
static inline void swiftcaffe_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
// A file-access property list without HDF5's file locks (flock), for reading: see
// HDF5File.openForReading.
static inline hid_t swiftcaffe_h5_unlocked_access(void) {
    hid_t list = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_file_locking(list, 0, 1);
    return list;
}
// A dataset-creation property list (H5P_DATASET_CREATE is a macro too).
static inline hid_t swiftcaffe_h5_dataset_creation(void) { return H5Pcreate(H5P_DATASET_CREATE); }
// A link-creation property list that creates missing groups on the way ("data/conv1/0").
static inline hid_t swiftcaffe_h5_intermediate_groups(void) {
    hid_t list = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(list, 1);
    return list;
}
