import convict from "convict";

export default convict;
